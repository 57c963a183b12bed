// One session for all tabs, beyond closing: two tabs opened together make one session
// (the Web Lock around initialization), and a token rotation repaired in one tab reaches
// the other before it sends anything (the BroadcastChannel).

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  browserAndServer,
  convertInPage,
  counters,
  csvFile,
  openApp,
  rotateCsrfBehindPage,
  serverSession,
  sleep,
  trackApi,
  uiTest,
  waitForReady,
  waitUntil,
} from './harness.mjs';

/** The CSRF token the page holds, as the page itself reads it (the visible cookie). */
const pageToken = (page) =>
  page.evaluate(() => (document.cookie.match(/(?:^|; )csrftoken=([^;]*)/) || [])[1] ?? null);

describe('tabs in step', () => {
  const suite = browserAndServer({ flags: ['--csrf-grace', '0s'] });
  const { opts } = suite;

  uiTest('two tabs opened together make one session', opts, async ({ context, shot }) => {
    const before = await counters(suite.server.base);
    // Initializations are held back until two are waiting (or 3 s passed), then sent
    // together from outside the page with the context's cookies at that moment: a tab
    // that skipped the lock would make a second session. (Sent by the browser itself,
    // Chromium's HTTP cache would queue two identical GETs and hide a missing lock.)
    let routed = 0;
    let releaseAll;
    const together = new Promise((resolve) => {
      releaseAll = resolve;
      setTimeout(resolve, 3_000);
    });
    await context.route('**/api/session/init*', async (route) => {
      routed += 1;
      if (routed >= 2) releaseAll();
      await together;
      await route.fulfill({ response: await route.fetch() });
    });
    const [tabA, tabB] = await Promise.all([context.newPage(), context.newPage()]);
    const [idA, idB] = await Promise.all([openApp(tabA, suite.server.base), openApp(tabB, suite.server.base)]);
    await shot(tabA, 'a');
    await shot(tabB, 'b');
    const after = await counters(suite.server.base);
    assert.equal(after.created - before.created, 1, 'one session for both tabs');
    assert.equal(idA, idB, 'both tabs show it');
    assert.equal(idA, (await serverSession(context, suite.server.base))?.id);
  });

  uiTest('a rotation repaired in one tab reaches the other before it sends anything', opts, async ({ context, shot }) => {
    const tabA = await context.newPage();
    const tabB = await context.newPage();
    const apiB = trackApi(tabB);
    const id = await openApp(tabA, suite.server.base);
    assert.equal(await openApp(tabB, suite.server.base), id);
    await sleep(300);

    await rotateCsrfBehindPage(context, suite.server.base);
    const before = await counters(suite.server.base);
    await convertInPage(tabA, { file: csvFile(), target: 'json', shot: (step) => shot(tabA, `a-${step}`) });
    const afterA = await counters(suite.server.base);
    assert.equal(afterA.csrfRejections - before.csrfRejections, 1, 'tab A met the stale token once');

    // Tab B was told; its next action is refused nowhere.
    const sentByB = apiB.requests.length;
    await convertInPage(tabB, { file: csvFile('second.csv'), target: 'json', shot: (step) => shot(tabB, `b-${step}`) });
    const afterB = await counters(suite.server.base);
    assert.equal(afterB.csrfRejections, afterA.csrfRejections, 'no refusal in tab B');
    assert.deepEqual(apiB.authFailures(), [], 'no 401/403 in tab B');
    assert.ok(
      !apiB.requests.slice(sentByB).some((r) => r.path === '/api/session'),
      'tab B did not have to fetch the token itself',
    );
    assert.equal(afterB.created, before.created, 'no new session');
    assert.equal(await waitForReady(tabB), id);
  });

  uiTest('a csrf:error event repairs only the token still held', opts, async ({ context, shot }) => {
    const page = await context.newPage();
    const api = trackApi(page);
    await openApp(page, suite.server.base);
    const dispatch = (token) =>
      page.evaluate((t) => window.dispatchEvent(new CustomEvent('csrf:error', { detail: { token: t } })), token);

    // A token that is not the current one: nothing happens.
    const sent = api.requests.length;
    await dispatch('not-the-current-token');
    await sleep(500);
    assert.deepEqual(api.requests.slice(sent), [], 'an old token is ignored');

    // The current one, really stale (rotated behind the page): one repair.
    const held = await pageToken(page);
    await rotateCsrfBehindPage(context, suite.server.base);
    const fresh = (await serverSession(context, suite.server.base)).csrf_token;
    assert.notEqual(fresh, held);
    await dispatch(held);
    await waitUntil(async () => (await pageToken(page)) === fresh, {
      message: "the page's token to become the server's current one",
    });
    const repairs = api.requests.slice(sent).map((r) => r.path);
    assert.deepEqual(repairs, ['/api/session'], 'exactly one request repaired it');
    await shot(page, 'repaired');
  });
});
