// The console's performance, measured the way a user meets it: a real `steward up` serving the
// built console over loopback, headless Chromium, the Chrome DevTools Protocol for bytes on the
// wire. Prints numbers (medians of BENCH_RUNS runs, default 5); asserts nothing.
//
//   1. First load of /login, and of / after signing in, with an empty cache: JS and CSS bytes as
//      transferred (encodedDataLength: gzip as served) and the number of requests.
//   2. Time to interactive of /login: DOMContentLoaded, load, first paint, and when `Sign in` is
//      visible and enabled (all from navigationStart).
//   3. A job page following a task that prints 10,000 lines: time until the 10,000th line is
//      reachable (live, and opening the finished job), frame rate and long tasks while scrolling
//      the log, and how many log rows are in the DOM (a virtualised log keeps that small).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { launchBrowser, signIn, VIEWPORTS } from './browser.mjs';
import { startFakeOpenAi } from './fake-openai.mjs';
import { ADMIN_PASSWORD, copyStacks, startAndWaitOnline, Steward, waitFor } from './steward.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const LINES = 10_000;
const LAST_LINE = `log line ${LINES}`;

/** The median of numbers (nulls left out); null when there are none. */
function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Adds a `host/host lines` command printing N numbered lines to a copy of the stacks. */
function stacksWithLines(dir) {
  return copyStacks(dir, (root) => {
    const service = path.join(root, 'essentials/1.0/services/host');
    fs.writeFileSync(
      path.join(service, 'scripts/lines.sh'),
      '#!/usr/bin/env bash\nset -euo pipefail\n# Prints numbered lines: the console benchmark\'s long log.\nseq -f \'log line %.0f\' 1 "$STEWARD_PARAM_COUNT"\n',
      { mode: 0o755 },
    );
    fs.appendFileSync(
      path.join(service, 'service.toml'),
      `
[components.commands.lines]
script = "scripts/lines.sh"
timeout = 300
risk = "low"
description = "Print numbered lines (the console benchmark's long log)"

[components.commands.lines.params.count]
type = "integer"
min = 1
max = 100000
default = ${LINES}
description = "How many lines"
`,
    );
  });
}

/** Counts what a page loads over the CDP Network domain, from `reset()` on. */
async function networkMeter(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  /** @type {Map<string, {type: string, url: string, bytes: number}>} */
  let requests = new Map();
  cdp.on('Network.requestWillBeSent', (e) => {
    requests.set(e.requestId, { type: e.type ?? 'Other', url: e.request.url, bytes: 0 });
  });
  cdp.on('Network.responseReceived', (e) => {
    const r = requests.get(e.requestId);
    if (r) r.type = e.type ?? r.type;
  });
  cdp.on('Network.loadingFinished', (e) => {
    const r = requests.get(e.requestId);
    if (r) r.bytes = e.encodedDataLength;
  });
  return {
    cdp,
    reset() {
      requests = new Map();
    },
    /** Requests seen, and bytes transferred per kind. */
    totals() {
      const all = [...requests.values()];
      const sum = (type) => all.filter((r) => r.type === type).reduce((n, r) => n + r.bytes, 0);
      return {
        requests: all.length,
        js: sum('Script'),
        css: sum('Stylesheet'),
        all: all.reduce((n, r) => n + r.bytes, 0),
        scripts: all.filter((r) => r.type === 'Script').length,
      };
    },
    /** Resolves once no request has started or finished for `quietMs`. */
    async settle(quietMs = 500) {
      let last = -1;
      await waitFor('the network to go quiet', async () => {
        const now = [...requests.values()].reduce((n, r) => n + 1 + (r.bytes ? 1 : 0), 0);
        const quiet = now === last;
        last = now;
        return quiet;
      }, 20_000, quietMs);
    },
  };
}

// Installed before any page script: when `Sign in` is first visible, and first enabled; every
// long task; all relative to navigationStart (performance.now()).
const PAGE_PROBES = () => {
  window.__longTasks = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch {
    // No long-task timing in this browser.
  }
  const probe = () => {
    const button = [...document.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Sign in');
    if (button && button.getClientRects().length > 0) {
      window.__signInVisibleAt ??= performance.now();
      if (!button.disabled && button.getAttribute('aria-disabled') !== 'true') window.__signInEnabledAt ??= performance.now();
    }
    if (window.__signInEnabledAt === undefined) requestAnimationFrame(probe);
  };
  requestAnimationFrame(probe);
};

/** One cold load of /login and then of / after signing in. */
async function measureLoad(browser, base) {
  const context = await browser.newContext({ viewport: VIEWPORTS.desktop });
  const page = await context.newPage();
  await page.addInitScript(PAGE_PROBES);
  const meter = await networkMeter(context, page);
  await meter.cdp.send('Network.setCacheDisabled', { cacheDisabled: true });

  await page.goto(`${base}/login`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.__signInEnabledAt !== undefined || window.__signInVisibleAt !== undefined);
  await meter.settle();
  const login = meter.totals();
  const timing = await page.evaluate(() => {
    const nav = /** @type {PerformanceNavigationTiming} */ (performance.getEntriesByType('navigation')[0]);
    const paint = Object.fromEntries(performance.getEntriesByType('paint').map((p) => [p.name, p.startTime]));
    return {
      domContentLoaded: nav.domContentLoadedEventEnd,
      load: nav.loadEventEnd,
      firstPaint: paint['first-paint'] ?? null,
      firstContentfulPaint: paint['first-contentful-paint'] ?? null,
      signInVisible: window.__signInVisibleAt ?? null,
      signInEnabled: window.__signInEnabledAt ?? null,
    };
  });

  // Signing in loads what the first page after it needs (lazy chunks, API calls).
  meter.reset();
  await page.getByRole('textbox', { name: 'Username' }).fill('admin');
  await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
  await meter.settle();
  const afterSignIn = meter.totals();

  // A cold load of / with the session in place.
  meter.reset();
  const started = Date.now();
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await page.getByRole('link', { name: 'Overview', exact: true }).first().waitFor({ state: 'visible' });
  const overviewReady = Date.now() - started;
  await meter.settle();
  const root = meter.totals();
  await context.close();
  return { login, timing, afterSignIn, root, overviewReady };
}

/** Scrolls the log (the scrollable ancestor of its lines) in the page; returns the element. */
const LOG_HELPERS = () => {
  /** The elements whose own text is a benchmark log line. */
  window.__logRows = () => {
    const rows = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (n.nodeValue?.startsWith('log line ')) rows.push(n.parentElement);
    }
    return rows;
  };
  /** The nearest scrollable ancestor of the log's rows, else the document. */
  window.__logScroller = () => {
    const row = window.__logRows()[0];
    for (let e = row?.parentElement; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (/(auto|scroll)/.test(style.overflowY) && e.scrollHeight > e.clientHeight) return e;
    }
    return document.scrollingElement;
  };
  /** True once the last line is in the DOM after scrolling the log to its end. */
  window.__lastLineReachable = (text) => {
    const scroller = window.__logScroller();
    scroller.scrollTop = scroller.scrollHeight;
    return window.__logRows().some((e) => e.textContent?.trim() === text);
  };
};

/** Scrolls the log from top to bottom over `ms`, one step per frame; frame and long-task stats. */
async function scrollStats(page, ms = 3000) {
  return page.evaluate(async (duration) => {
    const scroller = window.__logScroller();
    scroller.scrollTop = 0;
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const longBefore = window.__longTasks.length;
    const start = performance.now();
    const gaps = [];
    let maxRows = 0;
    let last = start;
    await new Promise((resolve) => {
      const step = (now) => {
        gaps.push(now - last);
        last = now;
        const t = Math.min(1, (now - start) / duration);
        scroller.scrollTop = t * (scroller.scrollHeight - scroller.clientHeight);
        maxRows = Math.max(maxRows, window.__logRows().length);
        if (t < 1) requestAnimationFrame(step);
        else resolve(undefined);
      };
      requestAnimationFrame(step);
    });
    const elapsed = performance.now() - start;
    const longTasks = window.__longTasks.slice(longBefore).filter((t) => t.start >= start - 50);
    return {
      fps: (gaps.length / elapsed) * 1000,
      worstFrameMs: Math.max(...gaps.slice(1)),
      longTasks: longTasks.length,
      longTaskMs: longTasks.reduce((n, t) => n + t.duration, 0),
      maxRows,
      domNodes: document.getElementsByTagName('*').length,
    };
  }, ms);
}

/** One job printing LINES lines: followed live from approval, then opened cold, then scrolled. */
async function measureLog(browser, base, admin) {
  const job = await admin.post('/api/v1/jobs', {
    cluster: 'local',
    service: 'host',
    component: 'host',
    command: 'lines',
    params: { count: LINES },
    rationale: 'console benchmark: a long log',
  });
  const context = await browser.newContext({ viewport: VIEWPORTS.desktop });
  const page = await context.newPage();
  await page.addInitScript(PAGE_PROBES);
  await page.addInitScript(LOG_HELPERS);
  await signIn(page, base, 'admin', ADMIN_PASSWORD);
  await page.goto(`${base}/jobs/${job.id}`);
  await page.getByText('PROPOSED', { exact: true }).first().waitFor();

  const approvedAt = Date.now();
  await admin.post(`/api/v1/jobs/${job.id}/approve`, { plan_hash: job.plan_hash });
  await page.waitForFunction((text) => window.__lastLineReachable(text), LAST_LINE, { timeout: 120_000, polling: 50 });
  const live = Date.now() - approvedAt;
  const done = await waitFor('the job to finish', async () => {
    const j = await admin.get(`/api/v1/jobs/${job.id}`);
    return j.finished_at ? j : null;
  });
  const serverRun = Date.parse(done.finished_at) - Date.parse(done.approved_at);
  const rowsLive = await page.evaluate(() => window.__logRows().length);

  const openedAt = Date.now();
  await page.goto(`${base}/jobs/${job.id}`);
  await page.waitForFunction((text) => window.__lastLineReachable(text), LAST_LINE, { timeout: 120_000, polling: 50 });
  const cold = Date.now() - openedAt;
  const rowsCold = await page.evaluate(() => window.__logRows().length);
  const scroll = await scrollStats(page);
  await context.close();
  return { state: done.state, live, serverRun, cold, rowsLive, rowsCold, ...scroll };
}

const kb = (bytes) => (bytes === null ? 'n/a' : `${(bytes / 1024).toFixed(1)} KiB`);
const ms = (x) => (x === null ? 'n/a' : `${Math.round(x)} ms`);
const num = (x, digits = 0) => (x === null ? 'n/a' : x.toFixed(digits));

async function main() {
  const llm = await startFakeOpenAi();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-bench-stacks-'));
  const steward = new Steward({ llmBaseUrl: llm.baseUrl, stacksDir: stacksWithLines(scratch) });
  let browser;
  try {
    const { admin } = await startAndWaitOnline(steward);
    browser = await launchBrowser();
    console.log(`Console benchmark: ${RUNS} runs, steward ${steward.url}, Chromium ${browser.version()}`);

    const loads = [];
    for (let i = 0; i < RUNS; i++) loads.push(await measureLoad(browser, steward.url));
    const logs = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await measureLog(browser, steward.url, admin);
      if (r.state !== 'SUCCESSFUL') throw new Error(`the ${LINES}-line job ended ${r.state}`);
      logs.push(r);
      process.stdout.write('.');
    }
    process.stdout.write('\n');

    const m = (list, f) => median(list.map(f));
    const rows = [
      ['/login cold: JS transferred', kb(m(loads, (l) => l.login.js))],
      ['/login cold: CSS transferred', kb(m(loads, (l) => l.login.css))],
      ['/login cold: all bytes transferred', kb(m(loads, (l) => l.login.all))],
      ['/login cold: requests (scripts)', `${m(loads, (l) => l.login.requests)} (${m(loads, (l) => l.login.scripts)})`],
      ['sign-in → first page: JS / CSS / requests', `${kb(m(loads, (l) => l.afterSignIn.js))} / ${kb(m(loads, (l) => l.afterSignIn.css))} / ${m(loads, (l) => l.afterSignIn.requests)}`],
      ['/ cold, signed in: JS transferred', kb(m(loads, (l) => l.root.js))],
      ['/ cold, signed in: CSS transferred', kb(m(loads, (l) => l.root.css))],
      ['/ cold, signed in: requests (scripts)', `${m(loads, (l) => l.root.requests)} (${m(loads, (l) => l.root.scripts)})`],
      ['/ cold, signed in: until the nav is visible', ms(m(loads, (l) => l.overviewReady))],
      ['/login: DOMContentLoaded', ms(m(loads, (l) => l.timing.domContentLoaded))],
      ['/login: load', ms(m(loads, (l) => l.timing.load))],
      ['/login: first paint', ms(m(loads, (l) => l.timing.firstPaint))],
      ['/login: first contentful paint', ms(m(loads, (l) => l.timing.firstContentfulPaint))],
      ['/login: Sign in visible', ms(m(loads, (l) => l.timing.signInVisible))],
      ['/login: Sign in visible and enabled', ms(m(loads, (l) => l.timing.signInEnabled))],
      [`job log, live: approve → line ${LINES} reachable`, ms(m(logs, (l) => l.live))],
      ['  of which the server ran the job (approved → finished)', ms(m(logs, (l) => l.serverRun))],
      [`job log, opened finished: navigation → line ${LINES} reachable`, ms(m(logs, (l) => l.cold))],
      ['job log: log rows in the DOM (live / opened)', `${m(logs, (l) => l.rowsLive)} / ${m(logs, (l) => l.rowsCold)}`],
      ['job log scroll (3 s, top → bottom): frames per second', num(m(logs, (l) => l.fps), 1)],
      ['job log scroll: worst frame', ms(m(logs, (l) => l.worstFrameMs))],
      ['job log scroll: long tasks (count / total)', `${m(logs, (l) => l.longTasks)} / ${ms(m(logs, (l) => l.longTaskMs))}`],
      ['job log scroll: most log rows in the DOM at once', `${m(logs, (l) => l.maxRows)}`],
      ['job page: DOM elements after scrolling', `${m(logs, (l) => l.domNodes)}`],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log(`\nMedians of ${RUNS} runs:`);
    for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
    if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify({ loads, logs }, null, 2));
  } catch (error) {
    console.error(`benchmark failed: ${error.stack ?? error}\n--- steward log ---\n${steward.logTail()}`);
    process.exitCode = 1;
  } finally {
    await browser?.close();
    await steward.dispose();
    await llm.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
