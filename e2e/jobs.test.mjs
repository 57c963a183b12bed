// Many files at once in the page: three files of different types in one go (each
// output decoded), the list kept across a reload and shared with a second tab at once,
// deleting a job (its files gone, its quota released), and "Download all" as one zip
// holding every output under unique names.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe } from 'node:test';

import {
  browserAndServer,
  csvFile,
  openApp,
  pngFile,
  rowOf,
  uiTest,
  unzip,
  waitUntil,
  webpSize,
} from './harness.mjs';

const markdownFile = (name = 'notes.md') => ({
  name,
  mimeType: 'text/markdown',
  buffer: Buffer.from('# Notes\n\nSome *text*.\n'),
});

/** Every row's `{name, state, jobId}`, top to bottom. */
async function rows(page) {
  return page.getByTestId('job-row').evaluateAll((all) =>
    all.map((row) => ({
      name: row.dataset.name,
      state: row.dataset.state,
      jobId: row.dataset.jobId ?? null,
    })),
  );
}

/** Waits until every row is in `state`; returns the rows. */
async function allRows(page, state, count) {
  return waitUntil(
    async () => {
      const shown = await rows(page);
      return shown.length === count && shown.every((row) => row.state === state) ? shown : null;
    },
    { timeout: 30_000, message: `${count} rows ${state}` },
  );
}

/** Chooses three files of different types at once and picks a target for each row. */
async function convertThree(page) {
  await page.getByTestId('file-input').setInputFiles([pngFile('photo.png', 6, 4), csvFile('people.csv'), markdownFile()]);
  await waitUntil(async () => (await rows(page)).length === 3, { message: 'three rows' });
  for (const [name, target] of [['photo.png', 'webp'], ['people.csv', 'json'], ['notes.md', 'html']]) {
    await rowOf(page, name).getByTestId('row-target').selectOption(target);
  }
  assert.deepEqual((await rows(page)).map((row) => row.state), ['ready', 'ready', 'ready']);
  await page.getByTestId('convert-button').click();
  return allRows(page, 'completed', 3);
}

/** The bytes behind a row's download link (its single-use URL, fetched from here). */
async function downloaded(page, name) {
  const href = await rowOf(page, name).getByTestId('download-link').evaluate((a) => a.href);
  const response = await fetch(href);
  assert.equal(response.status, 200, `download of ${name}`);
  return Buffer.from(await response.arrayBuffer());
}

describe('many files', () => {
  const suite = browserAndServer({ flags: ['--max-session-storage', '128KiB'] });
  const { opts } = suite;

  uiTest('three files of different types convert in one go, each to its own target', opts, async ({ context, shot }) => {
    const page = await context.newPage();
    await openApp(page, suite.server.base);
    const done = await convertThree(page);
    await shot(page, 'three-done');
    assert.ok(done.every((row) => /^[0-9a-f-]{36}$/.test(row.jobId)), 'every row knows its job');
    const webp = webpSize(await downloaded(page, 'photo.png'));
    assert.deepEqual([webp.width, webp.height], [6, 4], 'the picture decodes at its size');
    const json = JSON.parse((await downloaded(page, 'people.csv')).toString());
    assert.deepEqual(json, [{ name: 'Ada', age: '36' }, { name: 'Lin', age: '41' }]);
    assert.match((await downloaded(page, 'notes.md')).toString(), /<h1[^>]*>Notes<\/h1>/);
  });

  uiTest('the list survives a reload and a second tab sees new and deleted jobs at once', opts, async ({ context, shot }) => {
    const tabA = await context.newPage();
    await openApp(tabA, suite.server.base);
    const done = await convertThree(tabA);

    await tabA.reload();
    const reloaded = await allRows(tabA, 'completed', 3);
    assert.deepEqual(
      reloaded.map((row) => row.jobId).sort(),
      done.map((row) => row.jobId).sort(),
      'the same jobs after a reload',
    );
    await waitUntil(async () => (await tabA.getByTestId('download-link').count()) === 3, {
      message: 'a download link on every completed row after the reload',
    });
    await shot(tabA, 'reloaded');

    const tabB = await context.newPage();
    await openApp(tabB, suite.server.base);
    await allRows(tabB, 'completed', 3);
    // A new job in A reaches B without a reload.
    await tabA.getByTestId('file-input').setInputFiles([pngFile('later.png', 2, 2)]);
    await rowOf(tabA, 'later.png').getByTestId('row-target').selectOption('gif');
    await tabA.getByTestId('convert-button').click();
    await waitUntil(async () => (await rowOf(tabB, 'later.png').count()) === 1, {
      message: "tab B to show tab A's new job",
    });
    await waitUntil(async () => (await rowOf(tabB, 'later.png').getAttribute('data-state')) === 'completed', {
      message: 'the new job completed in tab B',
    });
    await shot(tabB, 'b-sees-new');
    // And a delete in A removes it from B.
    await rowOf(tabA, 'later.png').getByTestId('delete-job').click();
    await waitUntil(async () => (await rowOf(tabB, 'later.png').count()) === 0, {
      message: "the deleted job gone from tab B",
    });
    await shot(tabB, 'b-sees-delete');
  });

  uiTest('deleting a job removes its files and frees its share of the quota', opts, async ({ context, shot }) => {
    const page = await context.newPage();
    await openApp(page, suite.server.base);
    // 60 KiB of text and its PDF (about 41 KiB) take most of the 128 KiB quota: a
    // second such file does not fit beside them, one does alone.
    const big = (name) => ({ name, mimeType: 'text/plain', buffer: Buffer.alloc(60 * 1024, 'lorem ipsum\n') });
    // Chooses a big file, converts it to PDF and waits for its row to reach `state`.
    const convertToPdf = async (name, state, { timeout, message }) => {
      await page.getByTestId('file-input').setInputFiles([big(name)]);
      await rowOf(page, name).getByTestId('row-target').selectOption('pdf');
      await page.getByTestId('convert-button').click();
      await waitUntil(async () => (await rowOf(page, name).getAttribute('data-state')) === state, {
        timeout,
        message,
      });
    };
    await convertToPdf('first.txt', 'completed', { timeout: 30_000, message: 'first.txt converted' });
    const href = await rowOf(page, 'first.txt').getByTestId('download-link').evaluate((a) => a.href);

    // A second file does not fit beside the first.
    await convertToPdf('second.txt', 'failed', { message: 'second.txt refused by the quota' });
    const refusal = await rowOf(page, 'second.txt').getByTestId('error-message').textContent();
    assert.match(refusal, /storage limit/i, refusal);
    await shot(page, 'over-quota');

    await rowOf(page, 'first.txt').getByTestId('delete-job').click();
    await waitUntil(async () => (await rowOf(page, 'first.txt').count()) === 0, { message: 'first.txt gone' });
    assert.equal((await fetch(href)).status, 404, 'its download link died with it');

    // Its bytes left the quota: the third file fits now.
    await rowOf(page, 'second.txt').getByTestId('delete-job').click();
    await convertToPdf('third.txt', 'completed', {
      timeout: 30_000,
      message: 'third.txt converted once the quota was freed',
    });
  });

  uiTest('download all gives one zip with every output under unique names', opts, async ({ context, shot }) => {
    const page = await context.newPage();
    await openApp(page, suite.server.base);
    await page
      .getByTestId('file-input')
      .setInputFiles([pngFile('same.png', 3, 3), { ...pngFile('same.png', 5, 2) }, csvFile('table.csv')]);
    await waitUntil(async () => (await rows(page)).length === 3, { message: 'three rows' });
    await page.getByTestId('target-format').selectOption('webp');
    await page.locator('[data-testid="job-row"][data-name="table.csv"]').getByTestId('row-target').selectOption('json');
    await page.getByTestId('convert-button').click();
    await allRows(page, 'completed', 3);
    await shot(page, 'ready-to-zip');
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 15_000 }),
      page.getByTestId('download-all').click(),
    ]);
    assert.match(download.suggestedFilename(), /\.zip$/);
    const entries = unzip(await readFile(await download.path()));
    const names = entries.map((entry) => entry.name).sort();
    assert.deepEqual(names, ['same (2).webp', 'same.webp', 'table.json']);
    const sizes = entries
      .filter((entry) => entry.name.endsWith('.webp'))
      .map((entry) => webpSize(entry.data))
      .map((size) => `${size.width}x${size.height}`)
      .sort();
    assert.deepEqual(sizes, ['3x3', '5x2'], 'both pictures, each decoded');
    const table = entries.find((entry) => entry.name === 'table.json');
    assert.equal(JSON.parse(table.data.toString()).length, 2);
  });
});
