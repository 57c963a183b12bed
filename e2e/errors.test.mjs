// Errors a person can act on, in plain words: a file over the server's limit, and a
// server that is gone.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';

import {
  HOOK_TIMEOUT_MS,
  attemptConvert,
  csvFile,
  launchBrowser,
  openApp,
  startServer,
  uiTest,
} from './harness.mjs';

describe('errors in plain words', () => {
  let browser;
  let limited;
  let doomed;
  before(async () => {
    browser = await launchBrowser();
    limited = await startServer({ flags: ['--max-upload-size', '1MiB'] });
  }, { timeout: HOOK_TIMEOUT_MS });
  after(async () => {
    await limited?.stop();
    await doomed?.stop();
    await browser?.close();
  }, { timeout: HOOK_TIMEOUT_MS });
  const opts = { browser: () => browser, servers: () => [limited, doomed] };

  uiTest('a file over the upload limit is refused as too large, naming the limit', opts, async ({ context, shot }) => {
    const page = await context.newPage();
    await openApp(page, limited.base);
    // 2 MiB of plain text (txt → pdf is offered), twice the server's 1 MiB limit.
    const big = { name: 'big.txt', mimeType: 'text/plain', buffer: Buffer.alloc(2 * 1024 * 1024, 'lorem ipsum\n') };
    const message = await attemptConvert(page, { file: big, target: 'pdf' });
    await shot(page, 'too-large');
    assert.match(message, /too large/i, `error-message says "too large": ${message}`);
    assert.match(message, /1\s?MiB/, `error-message names the 1 MiB limit: ${message}`);
  });

  uiTest('a stopped server is reported as unreachable', opts, async ({ context, shot }) => {
    doomed = await startServer();
    const page = await context.newPage();
    await openApp(page, doomed.base);
    await shot(page, 'ready');
    await doomed.stop();

    const message = await attemptConvert(page, { file: csvFile(), target: 'json' });
    await shot(page, 'unreachable');
    assert.match(message, /can.t be reached/i, `error-message says the server can't be reached: ${message}`);
  });
});
