// The conversion flow a person goes through: choose a file, pick a target among those
// the server offers for it, convert, watch progress, download, convert another. The
// downloaded bytes are decoded and checked, not just their presence.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe } from 'node:test';

import {
  browserAndServer,
  chooseFile,
  convertInPage,
  csvFile,
  formats,
  openApp,
  pngFile,
  targetOptions,
  trackApi,
  uiTest,
  waitUntil,
  webpSize,
} from './harness.mjs';

/** The progress values seen must be numbers 0–100 (none at all: the job finished first). */
function checkProgress(t, values) {
  t.diagnostic(`progress seen: ${values.length ? values.join(' → ') : 'none (completed quickly)'}`);
  for (const value of values) {
    const n = Number(value);
    assert.ok(value !== null && Number.isFinite(n) && n >= 0 && n <= 100, `aria-valuenow ${value} is within 0–100`);
  }
}

describe('conversion flow', () => {
  const suite = browserAndServer();
  const { opts } = suite;

  uiTest('png converts to a webp of the same size and csv to json rows', opts, async ({ t, context, shot }) => {
    const groups = await formats(suite.server.base);
    // The formats envelope is camelCase (inputFormats, outputFormats).
    // Every group that reads the input adds its outputs (png → avif is libheif's group).
    const offered = (input) => groups.filter((g) => g.inputFormats.includes(input)).flatMap((g) => g.outputFormats);
    assert.ok(offered('png').includes('webp') && offered('csv').includes('json'), 'the server offers png → webp and csv → json');

    const page = await context.newPage();
    const api = trackApi(page);
    await openApp(page, suite.server.base);
    await shot(page, 'loaded');

    // png → webp, downloaded by clicking the link.
    const png = pngFile('pixels.png', 4, 3);
    const webp = await convertInPage(page, {
      file: png,
      target: 'webp',
      shot: (step) => shot(page, `png-${step}`),
    });
    const options = await targetOptions(page);
    for (const option of options) {
      assert.ok(offered('png').includes(option), `target ${option} is one the server offers for png (${offered('png')})`);
    }
    assert.ok(!options.includes('json'), 'a png is not offered json');
    checkProgress(t, webp.progress);
    await shot(page, 'png-done');
    assert.match(new URL(webp.href).pathname, /^\/api\/download$/, 'download-link points at /api/download');
    assert.ok(new URL(webp.href).searchParams.get('token'), 'download-link carries a token');

    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 15_000 }),
      page.getByTestId('download-link').click(),
    ]);
    assert.match(download.suggestedFilename(), /\.webp$/, 'the download is named .webp');
    const webpBytes = await readFile(await download.path());
    const size = webpSize(webpBytes);
    t.diagnostic(`webp: ${webpBytes.length} bytes, ${size.chunk}, ${size.width}×${size.height}`);
    assert.deepEqual({ width: size.width, height: size.height }, { width: 4, height: 3 }, 'dimensions preserved');

    // Convert another: the form is ready for a new file.
    await page.getByTestId('convert-another').click();
    await shot(page, 'convert-another');
    const input = page.getByTestId('file-input');
    await waitUntil(async () => (await input.count()) === 1 && (await input.isEnabled()), {
      message: 'file-input enabled again',
    });
    await waitUntil(async () => {
      const link = page.getByTestId('download-link');
      return (await link.count()) === 0 || !(await link.first().isVisible());
    }, { message: 'the old download-link to be gone' });

    // csv → json, downloaded from Node with the link's single-use URL.
    const json = await convertInPage(page, {
      file: csvFile('people.csv'),
      target: 'json',
      shot: (step) => shot(page, `csv-${step}`),
    });
    const csvOptions = await targetOptions(page);
    for (const option of csvOptions) {
      assert.ok(offered('csv').includes(option), `target ${option} is one the server offers for csv (${offered('csv')})`);
    }
    checkProgress(t, json.progress);
    await shot(page, 'csv-done');
    const response = await fetch(json.href);
    assert.equal(response.status, 200, 'GET download URL');
    assert.match(response.headers.get('content-disposition') ?? '', /attachment/);
    assert.match(response.headers.get('content-disposition') ?? '', /\.json/);
    const rows = JSON.parse(await response.text());
    assert.ok(Array.isArray(rows), 'csv → json gives an array');
    for (const row of rows) assert.deepEqual(Object.keys(row).sort(), ['age', 'name'], 'rows keyed by the header');
    assert.deepEqual(rows, [
      { name: 'Ada', age: '36' },
      { name: 'Lin', age: '41' },
    ]);
    const again = await fetch(json.href);
    assert.notEqual(again.status, 200, 'the download token is single-use');

    // And once more, the input takes a new file and offers its targets.
    await page.getByTestId('convert-another').click();
    await chooseFile(page, pngFile('again.png', 2, 2));
    await waitUntil(async () => (await targetOptions(page)).includes('webp'), {
      message: 'targets for a second png after convert-another',
    });
    await shot(page, 'ready-again');
    assert.deepEqual(api.authFailures(), [], 'no 401/403 on the wire');
  });

  uiTest('quality and a largest size are offered for lossy picture targets and applied', opts, async ({ t, context, shot }) => {
    const page = await context.newPage();
    await openApp(page, suite.server.base);
    await chooseFile(page, pngFile('wide.png', 40, 30));
    await waitUntil(async () => (await targetOptions(page)).includes('gif'), { message: 'targets for the png' });
    await page.getByTestId('target-format').selectOption('gif');
    await waitUntil(async () => (await page.getByTestId('max-width').count()) === 1, {
      message: 'a size field for a picture target',
    });
    assert.equal(await page.getByTestId('quality').count(), 0, 'gif takes no quality: no quality control');
    await shot(page, 'gif-target');

    const small = await convertInPage(page, {
      file: pngFile('wide.png', 40, 30),
      target: 'webp',
      fill: { quality: 30, 'max-width': 10 },
      shot: (step) => shot(page, `webp-${step}`),
    });
    const bytes = Buffer.from(await (await fetch(small.href)).arrayBuffer());
    const size = webpSize(bytes);
    t.diagnostic(`webp: ${bytes.length} bytes, ${size.chunk}, ${size.width}×${size.height}`);
    assert.deepEqual({ width: size.width, height: size.height }, { width: 10, height: 8 }, 'scaled down to 10 px wide, aspect kept');
    assert.equal(size.chunk, 'VP8 ', 'lossy WebP by default');
  });

  uiTest('a 390 px wide viewport never scrolls sideways', opts, async ({ context, shot }) => {
    const page = await context.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    const scrollWidth = () => page.evaluate(() => document.documentElement.scrollWidth);

    await openApp(page, suite.server.base);
    await shot(page, 'loaded');
    assert.ok((await scrollWidth()) <= 390, `loaded page scrollWidth ${await scrollWidth()} <= 390`);

    await chooseFile(page, pngFile('a-rather-long-file-name-for-a-narrow-phone-screen-test.png', 4, 3));
    await waitUntil(async () => (await targetOptions(page)).includes('webp'), { message: 'targets for the png' });
    await shot(page, 'file-chosen');
    assert.ok((await scrollWidth()) <= 390, `with a file chosen scrollWidth ${await scrollWidth()} <= 390`);

    await convertInPage(page, {
      file: pngFile('a-rather-long-file-name-for-a-narrow-phone-screen-test.png', 4, 3),
      target: 'webp',
    });
    await shot(page, 'done');
    assert.ok((await scrollWidth()) <= 390, `with a completed job scrollWidth ${await scrollWidth()} <= 390`);
  });
});
