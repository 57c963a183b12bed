// Session start-up as the server counts it: one initialization per load, none for a
// reload or a second tab, and on becoming visible only when the token is stale.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  browserAndServer,
  counters,
  openApp,
  serverSession,
  sessionStatus,
  setVisibility,
  sleep,
  trackApi,
  uiTest,
  waitForReady,
  waitUntil,
} from './harness.mjs';

/** Long enough for a duplicate or late initialization to have reached the suite.server. */
const SETTLE_MS = 1_000;

describe('session start-up', () => {
  const suite = browserAndServer();
  const { opts } = suite;

  uiTest('page load makes exactly one session init', opts, async ({ context, shot }) => {
    const page = await context.newPage();
    const api = trackApi(page);
    const before = await counters(suite.server.base);

    const id = await openApp(page, suite.server.base);
    await shot(page, 'ready');
    await sleep(SETTLE_MS);

    const now = await counters(suite.server.base);
    assert.equal(now.init - before.init, 1, 'GET /api/session/init requests counted by the server');
    assert.equal(now.created - before.created, 1, 'sessions created');
    assert.equal(api.inits(), 1, 'GET /api/session/init requests sent by the page');

    const session = await serverSession(context, suite.server.base);
    assert.ok(session, 'the browser cookies name a live session');
    assert.equal(id, session.id, 'data-session-id is the id of the session the cookies hold');
  });

  uiTest('reload and a second tab adopt the live session without a new one', opts, async ({ context, shot }) => {
    const first = await context.newPage();
    const id = await openApp(first, suite.server.base);
    await sleep(SETTLE_MS);
    const before = await counters(suite.server.base);

    await first.reload();
    const afterReload = await waitForReady(first);
    await shot(first, 'reloaded');
    assert.equal(afterReload, id, 'the reloaded page shows the same session id');

    const second = await context.newPage();
    const secondApi = trackApi(second);
    const secondId = await openApp(second, suite.server.base);
    await shot(second, 'second-tab');
    assert.equal(secondId, id, 'the second tab shows the same session id');
    await sleep(SETTLE_MS);

    const now = await counters(suite.server.base);
    assert.equal(now.created - before.created, 0, 'no session was created');
    assert.equal(now.init - before.init, 0, 'no GET /api/session/init after the first load');
    assert.equal(secondApi.inits(), 0, 'the second tab sent no GET /api/session/init');
    assert.equal((await serverSession(context, suite.server.base))?.id, id, 'the server still holds that session');
  });
});

describe('session freshness on becoming visible', () => {
  // A 20 s lifetime: the token is stale (older than half of it) after 10 s. Long enough
  // that a loaded machine neither makes the fresh check late nor lets the session expire
  // (20 s after the last request) before the stale token's re-initialization reaches it.
  const suite = browserAndServer({ flags: ['--idle-timeout', '20s'] });
  const { opts } = suite;

  uiTest('becoming visible re-initializes only a stale token', opts, async ({ context, shot }) => {
    const page = await context.newPage();
    const api = trackApi(page);
    const id = await openApp(page, suite.server.base);
    await sleep(300);

    // Fresh token: hidden → visible at once makes no request at all.
    const fresh = await counters(suite.server.base);
    const sentBefore = api.requests.length;
    await setVisibility(page, 'hidden');
    await setVisibility(page, 'visible');
    await sleep(SETTLE_MS);
    await shot(page, 'visible-fresh');
    assert.equal((await counters(suite.server.base)).init - fresh.init, 0, 'no session init for a fresh token');
    assert.deepEqual(api.requests.slice(sentBefore), [], 'no /api/ request for a fresh token');

    // Stale token: hidden for 10.5 s (more than half the 20 s lifetime), then visible.
    const stale = await counters(suite.server.base);
    const initsBefore = api.inits();
    await setVisibility(page, 'hidden');
    await sleep(10_500);
    await setVisibility(page, 'visible');
    await waitUntil(async () => (await counters(suite.server.base)).init > stale.init, {
      message: 'a session init after becoming visible with a stale token',
    });
    await sleep(SETTLE_MS);
    await shot(page, 'visible-stale');
    const now = await counters(suite.server.base);
    assert.equal(now.init - stale.init, 1, 'exactly one session init for a stale token');
    assert.equal(api.inits() - initsBefore, 1, 'the page sent exactly one GET /api/session/init');
    assert.equal(now.created - stale.created, 0, 'the live session was kept, not replaced');
    assert.deepEqual(await sessionStatus(page), { state: 'ready', id }, 'the same session, ready');
  });
});
