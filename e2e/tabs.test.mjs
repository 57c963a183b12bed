// Two tabs of one browser share one session and stay in step: a close in one is seen by
// the other at once without asking the suite.server, the other's next action starts a new
// session without a refused request, and the first tab then joins that session.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  browserAndServer,
  convertInPage,
  counters,
  csvFile,
  openApp,
  serverSession,
  sessionStatus,
  sleep,
  trackApi,
  uiTest,
  waitForReady,
  waitUntil,
} from './harness.mjs';

describe('two tabs', () => {
  const suite = browserAndServer();
  const { opts } = suite;

  uiTest('closing in one tab is seen by the other and its next action starts a session both share', opts, async ({ t, context, shot }) => {
    const tabA = await context.newPage();
    const tabB = await context.newPage();
    const apiB = trackApi(tabB);
    const oldId = await openApp(tabA, suite.server.base);
    assert.equal(await openApp(tabB, suite.server.base), oldId, 'both tabs show one session');
    await sleep(300);
    const before = await counters(suite.server.base);

    // Close in A: B shows it at once, asking the server nothing.
    const sentByB = apiB.requests.length;
    await tabA.getByTestId('close-session').click();
    const closedAt = Date.now();
    const statusB = await waitUntil(
      async () => {
        const s = await sessionStatus(tabB);
        return s.state !== 'ready' || s.id !== oldId ? s : null;
      },
      { timeout: 3_000, interval: 50, message: 'tab B to leave the closed session' },
    );
    const seenAfterMs = Date.now() - closedAt;
    await shot(tabA, 'a-closed');
    await shot(tabB, 'b-sees-close');
    await sleep(500);
    assert.deepEqual(apiB.requests.slice(sentByB), [], 'tab B sent nothing to learn of the close');
    t.diagnostic(`tab B showed the close after ${seenAfterMs} ms: ${JSON.stringify(statusB)}`);
    const statusA = await sessionStatus(tabA);
    assert.ok(!(statusA.state === 'ready' && statusA.id === oldId), 'tab A no longer shows the closed session');
    assert.equal((await counters(suite.server.base)).closed - before.closed, 1, 'the server closed one session');

    // B's next action succeeds without a single refused request.
    await convertInPage(tabB, { file: csvFile(), target: 'json', shot: (step) => shot(tabB, `b-${step}`) });
    await shot(tabB, 'b-done');
    assert.deepEqual(apiB.authFailures(), [], 'no 401/403 in tab B');
    const newId = await waitForReady(tabB, { notId: oldId });
    const session = await serverSession(context, suite.server.base);
    assert.equal(newId, session?.id, "tab B shows the cookies' new session");
    assert.equal((await counters(suite.server.base)).created - before.created, 1, 'exactly one new session');

    // And A joins it.
    assert.equal(await waitForReady(tabA, { notId: oldId, timeout: 5_000 }), newId, 'tab A shows B\'s new session id');
    await shot(tabA, 'a-joined');
  });
});
