// Accessibility of the page: axe-core (run inside the page) finds no serious or
// critical violation in any state — empty, files chosen, a refused file, running, done
// — in the light and the dark theme; the whole flow works from the keyboard alone with
// a visible focus; results are announced; reduced motion is respected.

import assert from 'node:assert/strict';
import path from 'node:path';
import { describe } from 'node:test';

import {
  E2E_DIR,
  browserAndServer,
  csvFile,
  openApp,
  pngFile,
  rowOf,
  throttleUpload,
  uiTest,
  waitUntil,
} from './harness.mjs';

const AXE = path.join(E2E_DIR, 'node_modules', 'axe-core', 'axe.min.js');

/** The serious and critical violations axe-core finds in `page` now. */
async function seriousViolations(page) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) {
    await page.addScriptTag({ path: AXE });
  }
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ')),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

async function assertAccessible(page, state) {
  const found = await seriousViolations(page);
  assert.deepEqual(found, [], `axe-core, ${state}: ${JSON.stringify(found, null, 2)}`);
}

/** Presses Tab until the focused element has `testId` (at most `limit` presses). */
async function tabTo(page, testId, limit = 30) {
  for (let i = 0; i < limit; i += 1) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.getAttribute('data-testid'));
    if (focused === testId) return;
  }
  throw new Error(`Tab never reached ${testId}`);
}

/** Whether the focused element shows a focus ring. */
async function focusVisible(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    // The file input is visually hidden; its label shows the ring.
    const shown = el?.getAttribute('data-testid') === 'file-input' ? el.nextElementSibling : el;
    const style = getComputedStyle(shown);
    return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  });
}

const slowFile = { name: 'slow.txt', mimeType: 'text/plain', buffer: Buffer.alloc(2 * 1024 * 1024, 'lorem ipsum\n') };

describe('accessibility', () => {
  const suite = browserAndServer();
  for (const colorScheme of ['light', 'dark']) {
    const opts = { ...suite.opts, contextOptions: { bypassCSP: true, colorScheme } };

    uiTest(`no serious axe-core violation in any state (${colorScheme} theme)`, opts, async ({ context, shot }) => {
      const page = await context.newPage();
      await openApp(page, suite.server.base);
      await assertAccessible(page, 'empty');

      const refused = { name: 'archive.xyz', mimeType: 'application/octet-stream', buffer: Buffer.from('?') };
      await page.getByTestId('file-input').setInputFiles([pngFile('photo.png'), csvFile('people.csv'), refused]);
      await waitUntil(async () => (await page.getByTestId('job-row').count()) === 3, { message: 'three rows' });
      await shot(page, `${colorScheme}-chosen`);
      await assertAccessible(page, 'files chosen, one refused');

      // Running: an upload slowed down to stay under way while axe-core looks.
      const unthrottle = await throttleUpload(context, page, 128 * 1024);
      await page.getByTestId('file-input').setInputFiles([slowFile]);
      await page.getByTestId('convert-button').click();
      await waitUntil(async () => (await rowOf(page, 'slow.txt').getAttribute('data-state')) === 'uploading', {
        message: 'slow.txt uploading',
      });
      await shot(page, `${colorScheme}-running`);
      await assertAccessible(page, 'running');
      await unthrottle();

      await waitUntil(
        async () => {
          const states = await page.getByTestId('job-row').evaluateAll((rows) => rows.map((r) => r.dataset.state));
          return states.every((state) => state === 'completed' || state === 'failed');
        },
        { timeout: 45_000, message: 'every row finished' },
      );
      await shot(page, `${colorScheme}-done`);
      await assertAccessible(page, 'done');
    });
  }

  uiTest('the whole flow works from the keyboard, with a visible focus and announcements', { ...suite.opts }, async ({ context, shot }) => {
    const page = await context.newPage();
    // Playwright intercepts the browser's file chooser only while a listener exists,
    // and turns that on asynchronously: listening from the start (not only from the
    // key press on) means the chooser the key opens is never missed.
    page.on('filechooser', () => {});
    await openApp(page, suite.server.base);

    await tabTo(page, 'file-input');
    assert.ok(await focusVisible(page), 'the file picker shows its focus');
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Space')]);
    assert.ok(chooser.isMultiple(), 'several files can be chosen');
    await chooser.setFiles([pngFile('keys.png', 3, 2)]);
    await waitUntil(async () => (await rowOf(page, 'keys.png').count()) === 1, { message: 'the row' });

    await tabTo(page, 'row-target');
    assert.ok(await focusVisible(page), 'the row target shows its focus');
    await tabTo(page, 'convert-button');
    assert.ok(await focusVisible(page), 'convert shows its focus');
    await page.keyboard.press('Enter');
    await waitUntil(async () => (await rowOf(page, 'keys.png').getAttribute('data-state')) === 'completed', {
      timeout: 30_000,
      message: 'converted from the keyboard',
    });
    const announced = await page.getByTestId('announcements').textContent();
    assert.match(announced, /keys\.png converted/, `the result is announced: ${announced}`);

    await tabTo(page, 'download-link');
    assert.ok(await focusVisible(page), 'the download link shows its focus');
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), page.keyboard.press('Enter')]);
    assert.ok(download.suggestedFilename().startsWith('keys'), download.suggestedFilename());

    await tabTo(page, 'delete-job');
    await page.keyboard.press('Enter');
    await waitUntil(async () => (await page.getByTestId('job-row').count()) === 0, { message: 'removed from the keyboard' });
    await shot(page, 'keyboard-done');
  });

  uiTest('motion is reduced when the system asks for it', { ...suite.opts, contextOptions: { reducedMotion: 'reduce' } }, async ({ context }) => {
    const page = await context.newPage();
    await openApp(page, suite.server.base);
    const duration = await page.locator('.drop').evaluate((el) => getComputedStyle(el).transitionDuration);
    assert.match(duration, /^0s(, 0s)*$/, `no transitions: ${duration}`);
  });
});
