// The console's main flows in a real browser against a real `steward up` (server plus its local
// agent) and a fake OpenAI-compatible model: chat → proposal → approval → live job; the viewer's
// read-only view; a rejection that never runs; the host chart; screenshots of every main page.
// Elements are found by role and accessible name, as a screen reader would.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, navigate, newPage, screenshot, signIn, VIEWPORTS, visible } from './browser.mjs';
import { startFakeOpenAi } from './fake-openai.mjs';
import { ADMIN_PASSWORD, Api, startAndWaitOnline, Steward, waitFor } from './steward.mjs';

const VIEWER = { username: 'vera-viewer', password: 'vera-viewer-password' };

/** Opens proposal `id` in the Approvals queue (its row expands into the proposal card). */
async function openProposal(page, id) {
  await (await visible(page.getByRole('button', { name: `Show plan of job ${id}` }), `proposal ${id} in Approvals`)).click();
  return visible(page.getByRole('article', { name: new RegExp(`^Proposal ${id}:`) }), `the card of proposal ${id}`);
}

/** The final states a job can reach. */
const FINAL = ['SUCCESSFUL', 'FAILED', 'CANCELED', 'REJECTED', 'EXPIRED'];

describe('the web console', { timeout: 150_000 }, () => {
  /** @type {Awaited<ReturnType<typeof startFakeOpenAi>>} */
  let llm;
  /** @type {Steward} */
  let steward;
  /** @type {Api} */
  let admin;
  /** @type {any} */
  let host;
  /** @type {import('playwright-core').Browser} */
  let browser;
  /** Pages opened by the tests, closed (and their errors shown) at the end. */
  const pages = [];

  const openPage = async (viewport) => {
    const page = await newPage(browser, viewport);
    pages.push(page);
    return page;
  };

  /** Proposes `host/host check` on the local host through the API, as the admin. */
  const proposeCheck = (rationale) =>
    admin.post('/api/v1/jobs', { cluster: 'local', service: 'host', component: 'host', command: 'check', rationale });

  before(async () => {
    llm = await startFakeOpenAi();
    steward = new Steward({ llmBaseUrl: llm.baseUrl });
    try {
      ({ admin, host } = await startAndWaitOnline(steward));
    } catch (error) {
      throw new Error(`${error.message}\n--- steward log ---\n${steward.logTail()}`);
    }
    await admin.post('/api/v1/users', { ...VIEWER, role: 'viewer' });
    browser = await launchBrowser();
  });

  after(async () => {
    for (const [i, page] of pages.entries()) {
      if (page.errors.length > 0) console.log(`# errors on ${page.url()}:\n#   ${page.errors.join('\n#   ')}`);
      // Each page's last state, for a post-mortem of a failed flow.
      await screenshot(page, `last-state/flows-${i + 1}`).catch(() => {});
    }
    await browser?.close();
    await steward?.dispose();
    await llm?.close();
  });

  test('a host check asked for in chat is proposed, approved, and followed live to SUCCESSFUL', async () => {
    const page = await openPage(VIEWPORTS.desktop);
    await signIn(page, steward.url, 'admin', ADMIN_PASSWORD);
    await navigate(page, 'Chat');
    await page.getByRole('textbox', { name: 'Message' }).fill('Please run a host check on this machine');
    await page.getByRole('button', { name: 'Send' }).click();

    const card = await visible(page.getByRole('article', { name: /^Proposal \d+:/ }), 'a proposal card', 30_000);
    await visible(card.getByText('PROPOSED', { exact: true }), 'PROPOSED on the proposal card');
    // The card is the job the model proposed through the tool loop, with its plan.
    const cardName = await card.getAttribute('aria-label');
    const chatJobId = Number(cardName.match(/^Proposal (\d+):/)[1]);
    const job = await admin.get(`/api/v1/jobs/${chatJobId}`);
    assert.equal(job.state, 'PROPOSED');
    assert.equal(job.source, 'chat');
    const cardText = await card.innerText();
    assert.ok(cardText.includes('host/host check'), `the card shows the plan's command: ${cardText}`);
    assert.ok(cardText.includes(host.hostname), `the card shows the plan's host ${host.hostname}: ${cardText}`);
    assert.ok(
      llm.chatRequests().some((r) => (r.body.tools ?? []).some((t) => t.function?.name === 'propose_job')),
      'steward offered the model the propose_job tool',
    );

    await card.getByRole('button', { name: 'Approve' }).click();
    await visible(card.getByText('SUCCESSFUL', { exact: true }), 'SUCCESSFUL on the proposal card', 45_000);
    const done = await admin.get(`/api/v1/jobs/${chatJobId}`);
    assert.equal(done.state, 'SUCCESSFUL');
    assert.equal(done.decided_by, 'admin');

    // The job page shows the task's output and the final state.
    await card.getByRole('link', { name: `#${chatJobId}`, exact: true }).click();
    await page.waitForURL(new RegExp(`/jobs/${chatJobId}$`));
    await visible(page.getByRole('log').getByText('host check OK'), "the task's last log line on the job page", 20_000);
    await visible(page.getByText('SUCCESSFUL', { exact: true }), 'SUCCESSFUL on the job page');
  });

  test('a job page follows a running job: states and log lines arrive without a reload', async () => {
    const page = await openPage(VIEWPORTS.desktop);
    await signIn(page, steward.url, 'admin', ADMIN_PASSWORD);
    const job = await proposeCheck('e2e: follow a job live');
    await page.goto(`${steward.url}/jobs/${job.id}`);
    await visible(page.getByText('PROPOSED', { exact: true }), 'PROPOSED on the job page');
    await page.evaluate(() => {
      window.__e2eSamePage = true;
    });
    await admin.post(`/api/v1/jobs/${job.id}/approve`, { plan_hash: job.plan_hash });
    await visible(page.getByRole('log').getByText('host check OK'), 'the log streamed onto the open job page', 30_000);
    await visible(page.getByText('SUCCESSFUL', { exact: true }), 'SUCCESSFUL on the open job page', 30_000);
    assert.equal(await page.evaluate(() => window.__e2eSamePage), true, 'the page was not reloaded');
  });

  test('a viewer sees proposals but cannot approve them, in the console or through the API', async () => {
    const job = await proposeCheck('e2e: a proposal the viewer looks at');
    const page = await openPage(VIEWPORTS.desktop);
    await signIn(page, steward.url, VIEWER.username, VIEWER.password);
    await navigate(page, 'Approvals');
    const row = await openProposal(page, job.id);
    const approve = row.getByRole('button', { name: 'Approve' });
    if ((await approve.count()) > 0) {
      assert.equal(await approve.isDisabled(), true, 'a viewer has no enabled Approve button');
      const reason = (await approve.getAttribute('title')) ?? (await row.innerText());
      assert.match(reason, /approver|permission|role/i, `the disabled Approve says why: ${reason}`);
    }

    const viewer = await Api.login(steward.url, VIEWER.username, VIEWER.password);
    const refused = await viewer.raw('POST', `/api/v1/jobs/${job.id}/approve`, { plan_hash: job.plan_hash });
    assert.equal(refused.status, 403, 'the API refuses a viewer\'s approval');
    const body = await refused.json();
    assert.ok(body.error?.code && body.error?.message, `a JSON error body: ${JSON.stringify(body)}`);
    assert.equal((await admin.get(`/api/v1/jobs/${job.id}`)).state, 'PROPOSED', 'the refused approval changed nothing');
  });

  test('a proposal rejected from Approvals never runs', async () => {
    const job = await proposeCheck('e2e: a proposal to reject');
    const comment = 'Not now: rejected by the end-to-end test';
    const page = await openPage(VIEWPORTS.desktop);
    await signIn(page, steward.url, 'admin', ADMIN_PASSWORD);
    await navigate(page, 'Approvals');
    const row = await openProposal(page, job.id);
    await row.getByRole('textbox', { name: 'Comment' }).fill(comment);
    await row.getByRole('button', { name: 'Reject' }).click();
    await waitFor('the job to be REJECTED', async () => (await admin.get(`/api/v1/jobs/${job.id}`)).state === 'REJECTED');
    const rejected = await admin.get(`/api/v1/jobs/${job.id}`);
    assert.equal(rejected.decision_comment, comment);
    assert.equal(rejected.decided_by, 'admin');

    // A job approved after it runs to the end: the scheduler has had its chance at the rejected one.
    const barrier = await proposeCheck('e2e: runs after the rejection');
    await admin.post(`/api/v1/jobs/${barrier.id}/approve`, { plan_hash: barrier.plan_hash });
    await waitFor('the later job to finish', async () => FINAL.includes((await admin.get(`/api/v1/jobs/${barrier.id}`)).state), 45_000);

    const after = await admin.get(`/api/v1/jobs/${job.id}`);
    assert.equal(after.state, 'REJECTED');
    assert.equal(after.started_at, null, 'the rejected job never started');
    for (const task of after.stages.flatMap((s) => s.tasks)) {
      assert.equal(task.attempt, 0, `task ${task.id} was never dispatched`);
      assert.equal(task.dispatched_at, null, `task ${task.id} was never dispatched`);
      assert.equal(task.started_at, null, `task ${task.id} never started`);
      assert.ok(!['RUNNING', 'SUCCESSFUL', 'FAILED'].includes(task.state), `task ${task.id} is ${task.state}`);
    }
    // The job's event stream (stored state replayed, then closed for a finished job) has no log
    // line and no task that ran.
    const events = await admin.raw('GET', `/api/v1/events?job=${job.id}`);
    assert.equal(events.status, 200);
    const text = await events.text();
    assert.ok(!/^event: log$/m.test(text), `no log event for a rejected job:\n${text}`);
    for (const line of text.split('\n').filter((l) => l.startsWith('data: '))) {
      const event = JSON.parse(line.slice(6));
      if (event.task_id !== undefined) {
        assert.ok(!['RUNNING', 'SUCCESSFUL', 'FAILED'].includes(event.state), `task event ${line}`);
      }
    }
    // Nothing reached the agent: the audit chain records every dispatch by task id.
    const taskIds = after.stages.flatMap((s) => s.tasks.map((t) => t.id));
    const dispatches = await admin.get('/api/v1/audit?action=tasks.dispatched&limit=1000');
    const dispatched = dispatches.flatMap((e) => e.details.tasks);
    assert.ok(dispatched.length > 0, 'the audit log records dispatches (the later job was one)');
    assert.deepEqual(
      taskIds.filter((id) => dispatched.includes(id)),
      [],
      'no task of the rejected job was dispatched',
    );
  });

  test("the host page charts the agent's samples and shows the latest CPU %", async () => {
    await waitFor(
      'two CPU samples from the local agent',
      async () => {
        const range = await admin.get(`/api/v1/hosts/${host.id}/metrics?name=cpu_used_pct`);
        return range.series.some((series) => series.points.length >= 2);
      },
      30_000,
    );
    const page = await openPage(VIEWPORTS.desktop);
    await signIn(page, steward.url, 'admin', ADMIN_PASSWORD);
    await navigate(page, 'Hosts');
    await page.getByRole('link', { name: host.hostname, exact: true }).first().click();
    await page.waitForURL(/\/hosts\//);
    const chart = page.getByRole('figure', { name: /^CPU used/ });
    await visible(chart.locator('canvas, svg'), 'the CPU chart drawn from the samples', 20_000);
    // The latest CPU sample, as a percentage beside its label.
    const cpu = await waitFor('the latest CPU % on the host page', async () =>
      (await page.getByRole('main').innerText()).match(/\bCPU\s+(\d+(?:\.\d+)?)\s?%/),
    );
    const value = Number(cpu[1]);
    assert.ok(value >= 0 && value <= 100, `a CPU percentage: ${cpu[0]}`);
  });

  test('chat accounts: a person creates a link code, an admin links and unlinks an account', async () => {
    const shots = [];
    for (const [size, viewport] of Object.entries(VIEWPORTS)) {
      const page = await openPage(viewport);
      await signIn(page, steward.url, 'admin', ADMIN_PASSWORD);
      await navigate(page, 'Chat accounts');
      await page.getByRole('button', { name: 'Create link code' }).click();
      const command = await visible(page.getByText(/^link [A-Z2-9]{10}$/), 'the link command with its code');
      assert.match(await command.textContent(), /^link [A-Z2-9]{10}$/);
      const id = size === 'phone' ? 'U0PHONE' : 'U0DESK';
      await page.getByRole('textbox', { name: 'Account id' }).fill(id);
      await page.getByRole('textbox', { name: 'Steward user' }).fill('admin');
      await page.getByRole('button', { name: 'Link account' }).click();
      await visible(page.getByRole('cell', { name: id }), 'the linked account in the list');
      // A bad id is refused with the server's reason, and nothing is added.
      await page.getByRole('textbox', { name: 'Account id' }).fill('not an id');
      await page.getByRole('textbox', { name: 'Steward user' }).fill('admin');
      await page.getByRole('button', { name: 'Link account' }).click();
      await visible(page.getByRole('alert').getByText(/is not a slack user id/), 'the refusal of a malformed id');
      shots.push(await screenshot(page, `chat-accounts-${size}`));
      await page.getByRole('button', { name: `Unlink slack account ${id}` }).click();
      await waitFor('the account to be unlinked', async () => !(await admin.get('/api/v1/chat-identities')).some((l) => l.external_id === id));

      await navigate(page, 'Hosts');
      await visible(page.getByRole('link', { name: host.hostname, exact: true }), 'the host in the list');
      shots.push(await screenshot(page, `hosts-${size}`));
    }
    console.log(`# screenshots:\n#   ${shots.join('\n#   ')}`);
  });

  test('screenshots of the main pages at desktop and phone sizes', async () => {
    // Its own data, so that it shows every page filled even when an earlier flow failed: a
    // conversation with a proposal, a job that ran, a proposal waiting in the queue.
    const conversation = await admin.post('/api/v1/chat/conversations', {});
    const reply = await admin.post(`/api/v1/chat/conversations/${conversation.id}/messages`, { text: 'Please run a host check on this machine' });
    assert.equal(reply.proposals.length, 1, `the chat proposed a job: ${JSON.stringify(reply)}`);
    const ran = await proposeCheck('e2e: a job to show');
    await admin.post(`/api/v1/jobs/${ran.id}/approve`, { plan_hash: ran.plan_hash });
    await waitFor('the job to show to finish', async () => FINAL.includes((await admin.get(`/api/v1/jobs/${ran.id}`)).state), 45_000);
    const pending = await proposeCheck('e2e: waiting in the approvals queue');

    const shots = [];
    for (const [size, viewport] of Object.entries(VIEWPORTS)) {
      const page = await openPage(viewport);
      await signIn(page, steward.url, 'admin', ADMIN_PASSWORD);
      if (size === 'phone') {
        assert.equal(await page.getByRole('link', { name: 'Chat', exact: true }).isVisible(), false, 'at 390 px the navigation hides behind Menu');
      }

      await navigate(page, 'Chat');
      const conversationLink = page.getByRole('link', { name: /Please run a host check/ }).first();
      // On a phone the list of conversations is folded behind a button.
      if (size === 'phone') await page.getByRole('button', { name: 'Conversations', exact: true }).click();
      await conversationLink.click();
      await visible(page.getByRole('article', { name: `Proposal ${reply.proposals[0].id}: ${reply.proposals[0].summary}` }), 'the proposal card in the chat');
      shots.push(await screenshot(page, `chat-${size}`));

      await navigate(page, 'Approvals');
      await openProposal(page, pending.id);
      shots.push(await screenshot(page, `approvals-${size}`));

      await navigate(page, 'Jobs');
      await page.getByRole('link', { name: `#${ran.id}`, exact: true }).first().click();
      await visible(page.getByRole('log').getByText('host check OK'), 'the log on the job page');
      shots.push(await screenshot(page, `job-${size}`));

      await navigate(page, 'Hosts');
      await page.getByRole('link', { name: host.hostname, exact: true }).first().click();
      await page.waitForURL(/\/hosts\/[^/]+$/);
      await visible(page.getByRole('figure', { name: /^CPU used/ }).locator('canvas'), 'the host charts', 20_000);
      shots.push(await screenshot(page, `host-${size}`));

      await navigate(page, 'Clusters');
      await page.getByRole('link', { name: 'local', exact: true }).first().click();
      await page.getByRole('tab', { name: 'Topology' }).click();
      await visible(page.getByRole('img', { name: /^Topology of local/ }).locator('canvas, svg'), 'the topology graph');
      shots.push(await screenshot(page, `topology-${size}`));
    }
    console.log(`# screenshots:\n#   ${shots.join('\n#   ')}`);
  });
});
