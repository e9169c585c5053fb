// A real `steward up` (server plus its local agent, cluster `local`) on loopback for the browser
// tests and the benchmark: free ports, a temporary data directory, the fake LLM, and a process
// group that is killed when the test ends, fails, or the runner exits.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The console's build output, which the debug binary serves as it is. */
export const DIST = path.join(REPO, 'web/dist');
/** The admin's password in every test server (the server wants at least 12 characters). */
export const ADMIN_PASSWORD = 'e2e-admin-password-1';
/** Where screenshots and other artefacts go (gitignored). */
export const RESULTS = path.join(REPO, 'web/test-results');

/** The `steward` binary under test: `STEWARD_BIN`, else the debug build in the shared target dir. */
export function stewardBin() {
  if (process.env.STEWARD_BIN) return process.env.STEWARD_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache/steward-target');
  return path.join(target, 'debug/steward');
}

/** The Chromium to drive: `CHROMIUM`, else Debian's. */
export function chromiumPath() {
  return process.env.CHROMIUM || '/usr/bin/chromium';
}

/** What is missing to run the browser tests, each with how to get it; empty when all is there. */
export async function missingPrerequisites() {
  const missing = [];
  if (!fs.existsSync(path.join(DIST, 'index.html'))) {
    missing.push(`${DIST}/index.html: build the console first (cd web && npm run build)`);
  }
  const bin = stewardBin();
  if (!fs.existsSync(bin)) {
    missing.push(`${bin}: build it (cargo build -p steward-server --bin steward), or point STEWARD_BIN at a steward binary`);
  }
  if (!fs.existsSync(chromiumPath())) {
    missing.push(`${chromiumPath()}: install Debian's Chromium (apt-get install -y chromium), or point CHROMIUM at one`);
  }
  try {
    await import('playwright-core');
  } catch {
    missing.push('the npm package playwright-core: run npm install in web/');
  }
  return missing;
}

/** A TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns a truthy value (returned), or throws `what` after `timeoutMs`. */
export async function waitFor(what, check, timeoutMs = 30_000, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message ?? last}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

// Every process group we started, so that an exiting runner takes them along even when a test
// failed before its cleanup ran.
const groups = new Set();
process.on('exit', () => {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => process.exit(130));
}

/** A copy of the repository's stacks in `dir`, with `edit(root)` applied; returns its root. */
export function copyStacks(dir, edit = () => {}) {
  const root = path.join(dir, 'stacks');
  fs.cpSync(path.join(REPO, 'stacks'), root, { recursive: true });
  edit(root);
  return root;
}

/**
 * One `steward up` on fixed ports and a data directory that outlive it, so it can be stopped and
 * started again (the restart test).
 */
export class Steward {
  /**
   * @param {{llmBaseUrl: string, stacksDir?: string, env?: Record<string, string>}} options
   */
  constructor(options) {
    this.options = options;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-e2e-'));
    this.dataDir = path.join(this.dir, 'data');
    this.logPath = path.join(this.dir, 'steward.log');
    /** @type {import('node:child_process').ChildProcess | null} */
    this.child = null;
    this.httpPort = 0;
    this.grpcPort = 0;
  }

  /** `http://127.0.0.1:PORT`. */
  get url() {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** Starts the process (choosing ports on the first start) and waits until /healthz answers. */
  async start() {
    if (!this.httpPort) {
      this.httpPort = await freePort();
      this.grpcPort = await freePort();
    }
    const log = fs.openSync(this.logPath, 'a');
    const env = {
      ...process.env,
      STEWARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
      STEWARD_EMBEDDER: 'none',
      STEWARD_METRICS_INTERVAL_MS: '1000',
      STEWARD_STACKS_DIR: this.options.stacksDir ?? path.join(REPO, 'stacks'),
      STEWARD_LLM_PROVIDER: 'openai',
      STEWARD_LLM_BASE_URL: this.options.llmBaseUrl,
      STEWARD_LLM_MODEL: 'fake',
      STEWARD_LLM_API_KEY: 'x',
      // The tests and the benchmark sign in more often than a person would.
      STEWARD_LOGIN_ATTEMPTS_PER_MINUTE: '1000',
      STEWARD_CHAT_MESSAGES_PER_MINUTE: '1000',
      STEWARD_PROPOSALS_PER_MINUTE: '1000',
      RUST_LOG: process.env.RUST_LOG ?? 'info,sqlx=warn,tower_http=warn,qdrant_edge=error',
      ...this.options.env,
    };
    for (const key of ['STEWARD_URL', 'STEWARD_TOKEN', 'STEWARD_CONFIG', 'STEWARD_DATA_DIR', 'STEWARD_HTTP', 'STEWARD_GRPC']) {
      delete env[key];
    }
    const args = ['up', '--data-dir', this.dataDir, '--http', `127.0.0.1:${this.httpPort}`, '--grpc', `127.0.0.1:${this.grpcPort}`];
    fs.writeSync(log, `\n=== ${new Date().toISOString()} ${stewardBin()} ${args.join(' ')}\n`);
    const child = spawn(stewardBin(), args, { env, stdio: ['ignore', log, log], detached: true });
    fs.closeSync(log);
    this.child = child;
    groups.add(child.pid);
    let exited = null;
    child.once('exit', (code, signal) => {
      exited = signal ?? code;
      groups.delete(child.pid);
    });
    await waitFor(
      `steward to answer /healthz on ${this.url}`,
      async () => {
        if (exited !== null) throw new Error(`steward exited (${exited}); its log:\n${this.logTail()}`);
        const response = await fetch(`${this.url}/healthz`);
        return response.ok;
      },
      60_000,
    );
  }

  /** Kills the whole process group (server, agent, any task it runs) and waits for the exit. */
  async stop(signal = 'SIGKILL') {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
    await exited;
    groups.delete(child.pid);
    this.child = null;
  }

  /** Stops the server and removes its files (kept when `E2E_KEEP=1`, for a post-mortem). */
  async dispose() {
    await this.stop();
    if (process.env.E2E_KEEP === '1') {
      console.log(`# kept ${this.dir}`);
    } else {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** The last lines of the server's log. */
  logTail(lines = 40) {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

/** A small REST client with one bearer token; errors carry the status and the server's message. */
export class Api {
  /** @param {string} base the server's URL @param {string} [token] */
  constructor(base, token) {
    this.base = base;
    this.token = token;
  }

  /** Signs in as `username` and returns a client holding the session token. */
  static async login(base, username, password) {
    const response = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(`login as ${username}: ${response.status} ${JSON.stringify(body)}`);
    return new Api(base, body.token);
  }

  /** The raw response of `method path` with an optional JSON body. */
  async raw(method, urlPath, body) {
    const headers = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch(`${this.base}${urlPath}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  /** The JSON answer of `method path`; throws on a status other than 2xx. */
  async call(method, urlPath, body) {
    const response = await this.raw(method, urlPath, body);
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${urlPath}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  get(urlPath) {
    return this.call('GET', urlPath);
  }

  post(urlPath, body) {
    return this.call('POST', urlPath, body ?? {});
  }
}

/**
 * Starts steward with the fake LLM, checks it serves the console, and waits until the local
 * host is ONLINE; returns the admin's API client and the host.
 * @param {Steward} steward
 */
export async function startAndWaitOnline(steward) {
  await steward.start();
  const index = await fetch(`${steward.url}/`);
  const html = await index.text();
  if (!index.ok || !/<script[^>]+type="module"/.test(html)) {
    let version = '';
    try {
      version = execFileSync(stewardBin(), ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      // The message below says enough without it.
    }
    throw new Error(
      `${stewardBin()} (${version}) does not serve the built console at / (status ${index.status}): rebuild it ` +
        `after npm run build (cargo build -p steward-server --bin steward), or point STEWARD_BIN at one that does. ` +
        `It answered:\n${html.slice(0, 300)}`,
    );
  }
  const admin = await Api.login(steward.url, 'admin', ADMIN_PASSWORD);
  const host = await waitFor(
    'the local agent to come ONLINE in cluster local',
    async () => {
      const hosts = await admin.get('/api/v1/hosts');
      return hosts.find((h) => h.state === 'ONLINE' && h.cluster === 'local');
    },
    60_000,
  );
  return { admin, host };
}
