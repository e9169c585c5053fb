// The console survives a server restart: an open page says the connection is lost while steward
// is down, and when it is back on the same data directory and ports the banner goes away by
// itself and the page shows what happened since, without a reload.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchBrowser, newPage, screenshot, signIn, VIEWPORTS, visible } from './browser.mjs';
import { startFakeOpenAi } from './fake-openai.mjs';
import { ADMIN_PASSWORD, Api, startAndWaitOnline, Steward, waitFor } from './steward.mjs';

/** @type {Awaited<ReturnType<typeof startFakeOpenAi>>} */
let llm;
/** @type {Steward} */
let steward;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  llm = await startFakeOpenAi();
  steward = new Steward({ llmBaseUrl: llm.baseUrl });
  try {
    await startAndWaitOnline(steward);
  } catch (error) {
    throw new Error(`${error.message}\n--- steward log ---\n${steward.logTail()}`);
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await steward?.dispose();
  await llm?.close();
});

test('an open job page survives a server restart and shows fresh data without a reload', { timeout: 120_000 }, async () => {
  let admin = await Api.login(steward.url, 'admin', ADMIN_PASSWORD);
  const job = await admin.post('/api/v1/jobs', {
    cluster: 'local',
    service: 'host',
    component: 'host',
    command: 'check',
    rationale: 'e2e: approved while the page waits through a restart',
  });
  const page = await newPage(browser, VIEWPORTS.desktop);
  try {
    await signIn(page, steward.url, 'admin', ADMIN_PASSWORD);
    await page.goto(`${steward.url}/jobs/${job.id}`);
    await visible(page.getByText('PROPOSED', { exact: true }), 'PROPOSED on the job page');
    await page.evaluate(() => {
      window.__e2eSamePage = true;
    });
    const banner = page.getByText('Connection lost');
    assert.equal(await banner.count(), 0, 'no banner while the server is up');

    await steward.stop('SIGKILL');
    await visible(banner, 'the Connection lost banner while steward is down', 20_000);

    await steward.start();
    // Hidden covers both a banner removed from the page and one merely not shown.
    await banner.first().waitFor({ state: 'hidden', timeout: 30_000 });

    // Fresh data: the job is approved after the restart and the open page follows it to the end.
    admin = await Api.login(steward.url, 'admin', ADMIN_PASSWORD);
    await waitFor('the local host to be ONLINE again', async () =>
      (await admin.get('/api/v1/hosts')).some((h) => h.cluster === 'local' && h.state === 'ONLINE'),
    );
    await admin.post(`/api/v1/jobs/${job.id}/approve`, { plan_hash: job.plan_hash });
    await visible(page.getByText('SUCCESSFUL', { exact: true }), 'SUCCESSFUL on the page opened before the restart', 45_000);
    await visible(page.getByRole('log').getByText('host check OK'), 'the log of the job run after the restart', 20_000);
    assert.equal(await page.evaluate(() => window.__e2eSamePage), true, 'the page was not reloaded');
  } catch (error) {
    await screenshot(page, 'last-state/restart').catch(() => {});
    throw new Error(`${error.message}\n--- page errors ---\n${page.errors.join('\n')}\n--- steward log ---\n${steward.logTail()}`);
  }
});
