// The session library on its own: the Leptos example page (trustyconvert-leptos) served
// by the axum example (trustyconvert-session), no converter involved. Two tabs share one
// session made by one initialization, the CSRF-protected echo answers, a token rotated
// behind the page's back is recovered by the library, and a close in one tab empties both.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';

import {
  HOOK_TIMEOUT_MS,
  launchBrowser,
  startExampleApp,
  trackApi,
  uiTest,
  waitUntil,
} from './harness.mjs';

const sessionId = (page) => page.locator('#session-id').textContent({ timeout: 2_000 });

/** Waits until the page shows a session (an id, not a placeholder); returns it. */
const waitForSession = (page) =>
  waitUntil(
    async () => {
      const id = (await sessionId(page)).trim();
      return id && id !== 'none' && !id.startsWith('starting') ? id : null;
    },
    { timeout: 15_000, message: 'the example page to show a session' },
  );

describe('the Leptos example on the session library', () => {
  const suite = { browser: undefined, server: undefined };
  before(async () => {
    suite.browser = await launchBrowser();
    suite.server = await startExampleApp();
  }, { timeout: HOOK_TIMEOUT_MS });
  after(async () => {
    await suite.server?.stop();
    await suite.browser?.close();
  }, { timeout: HOOK_TIMEOUT_MS });
  const opts = { browser: () => suite.browser, servers: () => [suite.server] };

  uiTest('two tabs share one session, the echo passes the CSRF check and a close empties both', opts, async ({ context, shot }) => {
    const tabA = await context.newPage();
    const tabB = await context.newPage();
    const apiA = trackApi(tabA);
    const apiB = trackApi(tabB);
    await Promise.all([tabA.goto(suite.server.base), tabB.goto(suite.server.base)]);
    const id = await waitForSession(tabA);
    assert.equal(await waitForSession(tabB), id, 'both tabs show one session');
    assert.equal(apiA.inits() + apiB.inits(), 1, 'one initialization for both tabs');
    await shot(tabA, 'a-session');

    await tabB.locator('#message').fill('hello from B');
    await tabB.locator('#send').click();
    await waitUntil(
      async () => ((await tabB.locator('#answer').textContent()) || '').includes('sent: hello from B'),
      { timeout: 10_000, message: 'the echo answer in tab B' },
    );
    assert.match(await tabB.locator('#answer').textContent(), new RegExp(`Session ${id} sent`));
    assert.deepEqual(apiB.authFailures(), [], 'the echo was never refused');

    // The token rotates twice behind the page (outside the grace window of the page's
    // token): the next echo is refused once, and the library refreshes and replays it.
    const rotate = () =>
      tabA.evaluate(async () => {
        const token = document.cookie.split('; ').find((c) => c.startsWith('csrftoken=')).split('=')[1];
        const response = await fetch('/api/session/csrf', { method: 'POST', headers: { 'x-csrf-token': token } });
        return response.status;
      });
    assert.equal(await rotate(), 200);
    assert.equal(await rotate(), 200);
    await tabA.locator('#message').fill('after rotation');
    await tabA.locator('#send').click();
    await waitUntil(
      async () => ((await tabA.locator('#answer').textContent()) || '').includes('sent: after rotation'),
      { timeout: 10_000, message: 'the echo answer after the rotation' },
    );
    const refused = apiA.authFailures();
    assert.deepEqual(
      refused.map((r) => [r.path, r.status]),
      [['/api/echo', 403]],
      'the stale token was refused once, then the library recovered without another refusal',
    );
    await shot(tabA, 'a-echo-after-rotation');

    await tabA.locator('#close').click();
    for (const tab of [tabA, tabB]) {
      await waitUntil(async () => (await sessionId(tab)).trim() === 'none', {
        timeout: 5_000,
        message: 'both tabs to show no session after the close',
      });
    }
    await shot(tabB, 'b-closed');
  });
});
