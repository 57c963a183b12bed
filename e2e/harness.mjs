// Shared helpers of the browser end-to-end tests: real `trustyconvert serve` processes on
// 127.0.0.1:0, Debian's headless Chromium driven by playwright-core, the server's
// Prometheus counters, the page's data-testid hooks, and test files made on the spot.
//
// Environment: TRUSTY_BIN (the binary; default target/debug/trustyconvert) and
// TRUSTY_WEB_DIR (the built UI; default target/web). Relative paths are taken from the
// repository root, so the tests run the same from any working directory.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

import { chromium } from 'playwright-core';

export const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(E2E_DIR, '..');
export const ARTIFACTS_DIR = path.join(E2E_DIR, 'artifacts');

/** Per-test budget; every test passes it to `test()` so nothing hangs the suite. */
export const TEST_TIMEOUT_MS = 60_000;
/** Budget of a `before`/`after` hook (starting or stopping servers and the browser). */
export const HOOK_TIMEOUT_MS = 30_000;

const fromRoot = (p) => (path.isAbsolute(p) ? p : path.resolve(ROOT, p));

export const TRUSTY_BIN = fromRoot(process.env.TRUSTY_BIN || 'target/debug/trustyconvert');
export const TRUSTY_WEB_DIR = fromRoot(process.env.TRUSTY_WEB_DIR || 'target/web');
export const EXAMPLE_BIN = fromRoot('target/debug/axum-app');
export const EXAMPLE_PAGES = fromRoot('target/leptos-app');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const SESSION_COOKIE = 'trustyconvert_session';
export const CSRF_COOKIE = 'csrftoken';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------
// Waiting

/**
 * Polls `probe` until it returns a truthy value (returned) or `timeout` ms pass (throws
 * with `message` and the last value or error seen). `probe` may be async and may throw;
 * a throw counts as "not yet", except an error with `fatal: true`, which ends the wait.
 */
export async function waitUntil(probe, { timeout = 15_000, interval = 100, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await probe();
      lastError = undefined;
      if (last) return last;
    } catch (error) {
      if (error?.fatal) throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const seen = lastError ? `last error: ${lastError.message}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeout} ms waiting for ${message} (${seen})`);
    }
    await sleep(interval);
  }
}

// ---------------------------------------------------------------------------------------
// Server processes

const liveChildren = new Set();
process.on('exit', () => {
  // Last resort if a test file is torn down without its `after` hooks: never leave a
  // server behind. Only the processes this file started, by their own PID.
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

// tracing's output may carry ANSI colour codes.
// eslint-disable-next-line no-control-regex
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

/**
 * Starts `trustyconvert serve` on 127.0.0.1:0 with a fresh in-memory store and data
 * directory, serving the web UI from TRUSTY_WEB_DIR. `flags` are appended (e.g.
 * `['--csrf-grace', '0s']`). Resolves once the "listening on" line names the port.
 */
export async function startServer({ flags = [], startTimeout = 20_000 } = {}) {
  if (!existsSync(TRUSTY_BIN)) {
    throw new Error(`server binary ${TRUSTY_BIN} is missing: run ./scripts/build-web.sh (or set TRUSTY_BIN)`);
  }
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'trusty-e2e-'));
  const args = [
    'serve',
    '--bind', '127.0.0.1:0',
    '--store', 'memory',
    '--data-dir', dataDir,
    '--insecure-cookies',
    '--web-dir', TRUSTY_WEB_DIR,
    ...flags,
  ];
  return spawnListening(TRUSTY_BIN, args, dataDir, /trustyconvert listening on (http:\/\/127\.0\.0\.1:\d+)/, startTimeout);
}

/**
 * Starts the session library's example server (`examples/axum-app`) on 127.0.0.1:0,
 * serving the built Leptos example page (`scripts/build-example.sh`) on the same origin.
 */
export async function startExampleApp({ startTimeout = 20_000 } = {}) {
  for (const needed of [EXAMPLE_BIN, path.join(EXAMPLE_PAGES, 'index.html')]) {
    if (!existsSync(needed)) {
      throw new Error(`${needed} is missing: run ./scripts/build-example.sh and cargo build -p axum-app`);
    }
  }
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'trusty-e2e-example-'));
  return spawnListening(EXAMPLE_BIN, ['127.0.0.1:0', EXAMPLE_PAGES], dataDir, /listening on (http:\/\/127\.0\.0\.1:\d+)/, startTimeout);
}

/** Spawns `bin` with `args` in `dataDir` and waits for the line `pattern` captures its base URL from. */
async function spawnListening(bin, args, dataDir, pattern, startTimeout) {
  // Only the flags above configure the server: no TRUSTY_* setting leaks in from the
  // caller's environment (the binary reads many of them).
  const env = { NO_COLOR: '1', TRUSTY_LOG: process.env.TRUSTY_LOG || 'info' };
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TRUSTY_')) env[key] = value;
  }
  const child = spawn(bin, args, { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);

  const log = [];
  const remember = (line) => {
    log.push(line);
    if (log.length > 400) log.shift();
  };
  let exit = null;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      liveChildren.delete(child);
      resolve(exit);
    });
  });

  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`server did not report its address within ${startTimeout} ms:\n${log.join('\n')}`));
    }, startTimeout);
    const onData = (stream) => {
      let pending = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        pending += chunk;
        let newline;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = stripAnsi(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
          remember(line);
          const match = line.match(pattern);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        }
      });
    };
    onData(child.stderr);
    onData(child.stdout);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (code ${code}, signal ${signal}) before listening:\n${log.join('\n')}`));
    });
  }).catch(async (error) => {
    if (!exit) child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  });

  let stopping = null;
  return {
    base,
    pid: child.pid,
    dataDir,
    /** The last lines the server logged (stdout and stderr). */
    logTail: (lines = 40) => log.slice(-lines).join('\n'),
    get running() {
      return exit === null;
    },
    /** SIGTERM, then SIGKILL after `graceMs`; removes the data directory. Idempotent. */
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        if (exit === null) {
          child.kill('SIGTERM');
          const timer = sleep(graceMs).then(() => 'timeout');
          if ((await Promise.race([exited, timer])) === 'timeout') {
            child.kill('SIGKILL');
            await exited;
          }
        }
        await rm(dataDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

// ---------------------------------------------------------------------------------------
// Server-side facts

/** `GET /metrics`, as name → value summed over all label sets. */
export async function metrics(base) {
  const response = await fetch(`${base}/metrics`);
  assert.equal(response.status, 200, 'GET /metrics');
  const sums = {};
  for (const line of (await response.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = line.match(/^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)/);
    if (!match) continue;
    sums[match[1]] = (sums[match[1]] ?? 0) + Number(match[3]);
  }
  return sums;
}

/** The session counters this suite reasons about. */
export async function counters(base) {
  const m = await metrics(base);
  const get = (name) => {
    assert.ok(name in m, `/metrics has no ${name}`);
    return m[name];
  };
  return {
    init: get('trusty_session_init_requests_total'),
    created: get('trusty_sessions_created_total'),
    closed: get('trusty_sessions_closed_total'),
    csrfRejections: get('trusty_csrf_rejections_total'),
  };
}

/** The `Cookie` header a non-browser client sends to act as `context`'s session. */
export async function cookieHeader(context, base) {
  const cookies = await context.cookies(base);
  const find = (name) => cookies.find((c) => c.name === name);
  const session = find(SESSION_COOKIE);
  const csrf = find(CSRF_COOKIE);
  assert.ok(session, `the browser holds no ${SESSION_COOKIE} cookie`);
  assert.ok(csrf, `the browser holds no ${CSRF_COOKIE} cookie`);
  return { cookie: `${SESSION_COOKIE}=${session.value}; ${CSRF_COOKIE}=${csrf.value}`, csrf: csrf.value };
}

/** `GET /api/session` with the context's cookies: the server's view (`data`), or null on 401. */
export async function serverSession(context, base) {
  const { cookie } = await cookieHeader(context, base);
  const response = await fetch(`${base}/api/session`, { headers: { cookie } });
  if (response.status === 401) return null;
  assert.equal(response.status, 200, 'GET /api/session');
  const body = await response.json();
  assert.equal(body.success, true);
  return body.data;
}

/** An unsafe session call made behind the page's back, as a non-browser client. */
async function postAsContext(context, base, endpoint) {
  const { cookie, csrf } = await cookieHeader(context, base);
  const response = await fetch(`${base}${endpoint}`, {
    method: 'POST',
    headers: { cookie, 'x-csrf-token': csrf },
  });
  const text = await response.text();
  assert.equal(response.status, 200, `POST ${endpoint}: ${text}`);
  return JSON.parse(text).data;
}

/** Rotates the session's CSRF token without telling the browser (its cookie goes stale). */
export const rotateCsrfBehindPage = (context, base) => postAsContext(context, base, '/api/session/csrf');
/** Closes the session without telling the browser. */
export const closeSessionBehindPage = (context, base) => postAsContext(context, base, '/api/session/close');

/** `GET /api/convert/formats` data. */
export async function formats(base) {
  const response = await fetch(`${base}/api/convert/formats`);
  assert.equal(response.status, 200, 'GET /api/convert/formats');
  return (await response.json()).data;
}

// ---------------------------------------------------------------------------------------
// Browser

/** Headless Debian Chromium with a fresh temporary profile; never a downloaded build. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Records what a page asks the server under /api/: `requests` as they leave and
 * `responses` with their statuses, each `{method, path, status?, at}`.
 */
export function trackApi(page) {
  const log = { requests: [], responses: [] };
  const apiPath = (url) => {
    const u = new URL(url);
    return u.pathname.startsWith('/api/') ? u.pathname + u.search : null;
  };
  page.on('request', (request) => {
    const p = apiPath(request.url());
    if (p) log.requests.push({ method: request.method(), path: p, at: Date.now() });
  });
  page.on('response', (response) => {
    const p = apiPath(response.url());
    if (p) log.responses.push({ method: response.request().method(), path: p, status: response.status(), at: Date.now() });
  });
  log.inits = () => log.requests.filter((r) => r.path.startsWith('/api/session/init')).length;
  log.authFailures = () => log.responses.filter((r) => r.status === 401 || r.status === 403);
  return log;
}

const slug = (s) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 120);

/** Writes `e2e/artifacts/<test>-<step>.png` (full page). */
export async function screenshot(page, testName, step) {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${slug(testName)}-${slug(step)}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** `t.diagnostic` line by line (the TAP reporter escapes newlines inside one). */
export function diagnose(t, text) {
  for (const line of String(text).split('\n')) t.diagnostic(line);
}

/**
 * For the `describe` it is called in: a browser and one server started with `flags`,
 * stopped after its tests. `suite.server` is the server once started; `suite.opts` is
 * what `uiTest` takes.
 */
export function browserAndServer({ flags = [] } = {}) {
  const suite = { browser: undefined, server: undefined };
  before(async () => {
    suite.browser = await launchBrowser();
    suite.server = await startServer({ flags });
  }, { timeout: HOOK_TIMEOUT_MS });
  after(async () => {
    await suite.server?.stop();
    await suite.browser?.close();
  }, { timeout: HOOK_TIMEOUT_MS });
  suite.opts = { browser: () => suite.browser, servers: () => [suite.server] };
  return suite;
}

/**
 * A UI test: `fn(ctx)` gets `{ t, context, shot(page, step) }` with a fresh browser
 * context (own cookies, own BroadcastChannel scope). On failure every open page of the
 * context is screenshotted (`<test>-failure-N.png`) and the servers' log tails are
 * printed as diagnostics; the context is always closed.
 */
export function uiTest(name, { browser, servers = () => [], contextOptions = {} }, fn) {
  return test(name, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const context = await browser().newContext({ acceptDownloads: true, ...contextOptions });
    const shot = (page, step) => screenshot(page, name, step);
    try {
      await fn({ t, context, shot });
    } catch (error) {
      let n = 0;
      for (const page of context.pages()) {
        n += 1;
        try {
          const testIds = await page.evaluate(() =>
            [...document.querySelectorAll('[data-testid]')].map((el) => {
              const attrs = ['data-state', 'data-session-id', 'aria-valuenow', 'disabled', 'hidden']
                .filter((a) => el.hasAttribute(a))
                .map((a) => `${a}=${el.getAttribute(a)}`);
              return `${el.getAttribute('data-testid')} ${attrs.join(' ')} ${(el.textContent || '').trim().slice(0, 120)}`;
            }),
          );
          diagnose(t, `page ${n} ${page.url()} test ids:\n  ${testIds.join('\n  ')}`);
          t.diagnostic(`screenshot: ${await screenshot(page, name, `failure-${n}`)}`);
        } catch (shotError) {
          t.diagnostic(`page ${n}: no screenshot (${shotError.message})`);
        }
      }
      for (const server of servers()) {
        if (server) diagnose(t, `server ${server.base} log tail:\n${server.logTail()}`);
      }
      throw error;
    } finally {
      await context.close().catch(() => {});
    }
  });
}

// ---------------------------------------------------------------------------------------
// The page's hooks (data-testid)

/** `session-status`'s `{state, id}`. */
export async function sessionStatus(page) {
  // Both attributes in one read, so a change between them is never half seen.
  return page.getByTestId('session-status').evaluate(
    (el) => ({ state: el.getAttribute('data-state'), id: el.getAttribute('data-session-id') }),
    undefined,
    { timeout: 2_000 },
  );
}

/** Waits until `session-status` is `ready` (with an id other than `notId`, if given); returns the id. */
export async function waitForReady(page, { timeout = 15_000, notId } = {}) {
  const status = await waitUntil(
    async () => {
      const s = await sessionStatus(page);
      return s.state === 'ready' && s.id && s.id !== notId ? s : null;
    },
    { timeout, message: `session-status ready${notId ? ` with an id other than ${notId}` : ''}` },
  );
  return status.id;
}

/**
 * Loads the UI and waits for a ready session and the first load of the job list (so the
 * page's own start-up requests are over before a test counts requests); returns the id.
 */
export async function openApp(page, base, options) {
  const response = await page.goto(`${base}/`);
  assert.equal(response?.status(), 200, 'GET / status');
  const id = await waitForReady(page, options);
  await waitUntil(
    async () => (await page.getByTestId('job-list').getAttribute('aria-busy')) === 'false',
    { timeout: options?.timeout ?? 15_000, message: 'the job list loaded (aria-busy="false")' },
  );
  return id;
}

/** The error-message text if it is visible, else null. */
export async function visibleError(page) {
  const el = page.getByTestId('error-message');
  if ((await el.count()) === 0 || !(await el.first().isVisible())) return null;
  return (await el.first().innerText()).trim();
}

/** Emulates the tab becoming `hidden` or `visible` (the page listens for visibilitychange). */
export async function setVisibility(page, state) {
  await page.evaluate((s) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => s });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => s === 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  }, state);
}

/** The non-empty option values of `target-format`. */
export async function targetOptions(page) {
  return page
    .getByTestId('target-format')
    .locator('option')
    .evaluateAll((options) => options.map((o) => o.value).filter((v) => v !== ''));
}

/** Chooses `file` (`{name, mimeType, buffer}` or a path) in `file-input`. */
export async function chooseFile(page, file) {
  await page.getByTestId('file-input').setInputFiles(file);
}

/** Waits until `target-format` offers `format`, then picks it. */
export async function pickTarget(page, format) {
  await waitUntil(async () => (await targetOptions(page)).includes(format), {
    message: `target-format to offer "${format}"`,
  });
  await page.getByTestId('target-format').selectOption(format);
}

/**
 * Records every visible state of `progress` (its aria-valuenow) from now on, in the
 * page, so a fast job that shows progress only briefly is still seen.
 */
export async function watchProgress(page) {
  await page.evaluate(() => {
    const seen = [];
    window.__e2eProgress = seen;
    const record = () => {
      const el = document.querySelector('[data-testid="progress"]');
      if (!el) return;
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0 || getComputedStyle(el).visibility === 'hidden') return;
      const value = el.getAttribute('aria-valuenow');
      if (seen.length === 0 || seen[seen.length - 1] !== value) seen.push(value);
    };
    new MutationObserver(record).observe(document, {
      subtree: true,
      childList: true,
      attributes: true,
      characterData: true,
    });
    record();
  });
  return () => page.evaluate(() => window.__e2eProgress ?? []);
}

/** The newest `job-row` of a file named `name` (rows are listed newest first). */
export function rowOf(page, name) {
  return page.locator(`[data-testid="job-row"][data-name="${name}"]`).first();
}

/**
 * Chooses `file`, picks `target`, clicks convert and waits for `download-link`; fails
 * at once with the page's words if `error-message` shows instead. Returns
 * `{ href, progress }` (the absolute download URL and the aria-valuenow values seen).
 */
export async function convertInPage(page, { file, target, shot, fill = {}, timeout = 30_000 }) {
  await chooseFile(page, file);
  await pickTarget(page, target);
  // Conversion options: { quality: 40, 'max-width': 10 } fills those controls.
  for (const [testId, value] of Object.entries(fill)) {
    await page.getByTestId(testId).fill(String(value));
  }
  if (shot) await shot('file-chosen');
  const progress = await watchProgress(page);
  await page.getByTestId('convert-button').click();
  // The newest row of this file (the list may also hold earlier jobs of the session).
  const link = rowOf(page, file.name).getByTestId('download-link');
  await waitUntil(
    async () => {
      const error = await visibleError(page);
      if (error) throw Object.assign(new Error(`the page shows an error: ${error}`), { fatal: true });
      return (await link.count()) > 0 && (await link.first().isVisible());
    },
    { timeout, message: 'download-link' },
  ).catch(async (error) => {
    // A visible error ends the wait early with its own words.
    const shown = await visibleError(page).catch(() => null);
    throw shown ? new Error(`conversion ${file.name} → ${target} failed in the page: ${shown}`) : error;
  });
  const href = await link.first().evaluate((a) => a.href);
  return { href, progress: await progress() };
}

/**
 * Tries an action that is expected to fail: chooses `file`, and unless an error is
 * already shown, picks `target` (when offered) and clicks convert. Returns the text of
 * `error-message` once it is visible.
 */
export async function attemptConvert(page, { file, target, timeout = 30_000 }) {
  await chooseFile(page, file);
  // Either the page objects to the file at once, or it offers targets.
  await waitUntil(async () => (await visibleError(page)) || (await targetOptions(page)).includes(target), {
    timeout,
    message: `an error or target "${target}" after choosing ${file.name}`,
  });
  if (!(await visibleError(page))) {
    await page.getByTestId('target-format').selectOption(target);
    const button = page.getByTestId('convert-button');
    if (await button.isEnabled()) await button.click();
  }
  return waitUntil(() => visibleError(page), { timeout, message: 'error-message to be visible' });
}

// ---------------------------------------------------------------------------------------
// Test files

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

/** A valid 8-bit RGB PNG of `width`×`height` with a colour gradient. */
export function makePng(width = 4, height = 3) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: truecolour
  header[10] = 0; // compression
  header[11] = 0; // filter
  header[12] = 0; // interlace
  const rows = [];
  for (let y = 0; y < height; y += 1) {
    const row = Buffer.alloc(1 + width * 3); // filter byte 0 (None)
    for (let x = 0; x < width; x += 1) {
      row[1 + x * 3] = Math.round((255 * x) / Math.max(1, width - 1));
      row[2 + x * 3] = Math.round((255 * y) / Math.max(1, height - 1));
      row[3 + x * 3] = 128;
    }
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

export const pngFile = (name = 'pixels.png', width = 4, height = 3) => ({
  name,
  mimeType: 'image/png',
  buffer: makePng(width, height),
});

export const CSV_TEXT = 'name,age\nAda,36\nLin,41\n';
export const csvFile = (name = 'people.csv') => ({ name, mimeType: 'text/csv', buffer: Buffer.from(CSV_TEXT) });

/**
 * Width and height of a WebP (RIFF container; VP8X, lossless VP8L or lossy VP8).
 * Throws if the bytes are not a WebP.
 */
export function webpSize(bytes) {
  const buf = Buffer.from(bytes);
  assert.ok(buf.length >= 30, `WebP too short (${buf.length} bytes)`);
  assert.equal(buf.toString('ascii', 0, 4), 'RIFF', 'WebP starts with RIFF');
  assert.equal(buf.toString('ascii', 8, 12), 'WEBP', 'WebP has WEBP at offset 8');
  const chunk = buf.toString('ascii', 12, 16);
  if (chunk === 'VP8X') {
    return { width: 1 + buf.readUIntLE(24, 3), height: 1 + buf.readUIntLE(27, 3), chunk };
  }
  if (chunk === 'VP8L') {
    assert.equal(buf[20], 0x2f, 'VP8L signature');
    const bits = buf.readUInt32LE(21);
    return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >>> 14) & 0x3fff), chunk };
  }
  if (chunk === 'VP8 ') {
    assert.deepEqual([...buf.subarray(23, 26)], [0x9d, 0x01, 0x2a], 'VP8 start code');
    return { width: buf.readUInt16LE(26) & 0x3fff, height: buf.readUInt16LE(28) & 0x3fff, chunk };
  }
  throw new Error(`unknown WebP chunk ${JSON.stringify(chunk)}`);
}

/**
 * The entries of a zip (`[{name, data}]`), read through its central directory (a zip
 * written as it streams has its sizes there, not in the local headers); stored and
 * deflated entries.
 */
export function unzip(bytes) {
  let end = bytes.length - 22;
  while (end >= 0 && bytes.readUInt32LE(end) !== 0x06054b50) end -= 1;
  assert.ok(end >= 0, 'a zip has an end of central directory record');
  const count = bytes.readUInt16LE(end + 10);
  let at = bytes.readUInt32LE(end + 16);
  const entries = [];
  for (let i = 0; i < count; i += 1) {
    assert.equal(bytes.readUInt32LE(at), 0x02014b50, 'a central directory entry');
    const method = bytes.readUInt16LE(at + 10);
    const compressed = bytes.readUInt32LE(at + 20);
    const nameLength = bytes.readUInt16LE(at + 28);
    const extraLength = bytes.readUInt16LE(at + 30);
    const commentLength = bytes.readUInt16LE(at + 32);
    const local = bytes.readUInt32LE(at + 42);
    const name = bytes.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    const start = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
    const raw = bytes.subarray(start, start + compressed);
    const data = method === 8 ? zlib.inflateRawSync(raw) : Buffer.from(raw);
    entries.push({ name, data });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/**
 * Limits `page`'s uplink to `bytesPerSecond` (Chromium's network emulation); returns a
 * function that lifts the limit.
 */
export async function throttleUpload(context, page, bytesPerSecond) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const emulate = (uploadThroughput) =>
    cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput });
  await emulate(bytesPerSecond);
  return () => emulate(-1);
}
