// Cancelling: the upload in flight is aborted in the browser (the client's fetch carries
// an AbortController that fires when the conversion's future is dropped).

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  browserAndServer,
  chooseFile,
  counters,
  sessionStatus,
  openApp,
  pickTarget,
  sleep,
  throttleUpload,
  uiTest,
  visibleError,
  waitUntil,
} from './harness.mjs';

/**
 * Opens the app on a page whose uplink is slowed to 64 KiB/s, and starts converting a
 * 4 MiB text file, so its upload is still under way for about a minute. Returns the
 * page and the error texts of `/api/upload` requests that fail, as they happen.
 */
async function startSlowUpload(context, base) {
  const page = await context.newPage();
  await openApp(page, base);
  await throttleUpload(context, page, 64 * 1024);
  const failed = [];
  page.on('requestfailed', (request) => {
    if (request.url().includes('/api/upload')) failed.push(request.failure()?.errorText ?? '');
  });
  const big = { name: 'big.txt', mimeType: 'text/plain', buffer: Buffer.alloc(4 * 1024 * 1024, 'lorem ipsum\n') };
  await chooseFile(page, big);
  await pickTarget(page, 'pdf');
  await page.getByTestId('convert-button').click();
  await page.getByTestId('cancel-button').waitFor({ state: 'visible' });
  return { page, failed };
}

describe('cancelling', () => {
  const suite = browserAndServer();
  const { opts } = suite;

  uiTest('cancelling an upload aborts its request in the browser', opts, async ({ context, shot }) => {
    const { page, failed } = await startSlowUpload(context, suite.server.base);
    const finished = [];
    page.on('requestfinished', (request) => {
      if (request.url().includes('/api/upload')) finished.push(request.url());
    });
    await sleep(500);
    await shot(page, 'uploading');
    await page.getByTestId('cancel-button').click();

    await waitUntil(() => failed.length > 0, { message: 'the upload request to be aborted' });
    assert.match(failed[0], /ABORTED/i, `the browser aborted the upload: ${failed[0]}`);
    assert.deepEqual(finished, [], 'the upload never completed');
    await waitUntil(async () => page.getByTestId('convert-button').isEnabled(), {
      message: 'convert-button usable again',
    });
    assert.equal(await page.getByTestId('progress').count(), 0, 'no progress shown any more');
    assert.equal(await visibleError(page), null, 'a cancel is not an error');
    await shot(page, 'cancelled');
  });

  uiTest('ending the session during a conversion stops it and starts no other session', opts, async ({ context, shot }) => {
    const { page, failed } = await startSlowUpload(context, suite.server.base);
    await sleep(300);
    const before = await counters(suite.server.base);

    await page.getByTestId('close-session').click();
    const message = await waitUntil(visibleError.bind(null, page), { message: 'error-message after closing' });
    assert.match(message, /closed/i, `says why the conversion stopped: ${message}`);
    await waitUntil(() => failed.length > 0, { message: 'the upload request to be aborted' });
    await sleep(1_000);
    await shot(page, 'closed-mid-conversion');
    const after = await counters(suite.server.base);
    assert.equal(after.closed - before.closed, 1, 'the session was closed');
    assert.equal(after.created, before.created, 'no session was started behind the user');
    assert.equal((await sessionStatus(page)).state, 'none');
  });
});
