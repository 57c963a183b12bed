// Self-recovery when the server's view changed behind the page's back: a rotated CSRF
// token costs exactly one refused request and no new session; a closed session costs
// exactly one new session. Either way the person's next action just works.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  browserAndServer,
  closeSessionBehindPage,
  convertInPage,
  counters,
  csvFile,
  openApp,
  pngFile,
  rotateCsrfBehindPage,
  serverSession,
  sleep,
  uiTest,
  waitForReady,
  waitUntil,
} from './harness.mjs';

describe('recovery behind the page', () => {
    // No grace: the page's rotated-away token is refused at once.
  const suite = browserAndServer({ flags: ['--csrf-grace', '0s'] });
  const { opts } = suite;

  uiTest('a token rotated behind the page costs one refusal and no new session', opts, async ({ context, shot }) => {
    const page = await context.newPage();
    const id = await openApp(page, suite.server.base);
    const oldCsrf = (await context.cookies(suite.server.base)).find((c) => c.name === 'csrftoken')?.value;

    await rotateCsrfBehindPage(context, suite.server.base);
    const before = await counters(suite.server.base);

    await convertInPage(page, { file: csvFile(), target: 'json', shot: (step) => shot(page, step) });
    await shot(page, 'done');
    await sleep(500);

    const now = await counters(suite.server.base);
    assert.equal(now.csrfRejections - before.csrfRejections, 1, 'exactly one CSRF rejection');
    assert.equal(now.created - before.created, 0, 'no session created');
    assert.equal((await serverSession(context, suite.server.base))?.id, id, 'the same session goes on');
    const newCsrf = (await context.cookies(suite.server.base)).find((c) => c.name === 'csrftoken')?.value;
    assert.notEqual(newCsrf, oldCsrf, 'the browser resynchronised its CSRF cookie');
    assert.equal(await page.getByTestId('session-status').getAttribute('data-session-id'), id);
  });

  uiTest('a session closed behind the page is replaced by exactly one new session', opts, async ({ context, shot }) => {
    const page = await context.newPage();
    const id = await openApp(page, suite.server.base);
    // A first conversion, so the next one starts from "convert another" as a person would.
    await convertInPage(page, { file: pngFile(), target: 'webp' });
    await page.getByTestId('convert-another').click();

    await closeSessionBehindPage(context, suite.server.base);
    assert.equal(await serverSession(context, suite.server.base), null, 'the server forgot the session');
    const before = await counters(suite.server.base);

    await convertInPage(page, { file: csvFile(), target: 'json', shot: (step) => shot(page, step) });
    await shot(page, 'done');
    await sleep(500);

    const now = await counters(suite.server.base);
    assert.equal(now.created - before.created, 1, 'exactly one session created');
    const session = await serverSession(context, suite.server.base);
    assert.ok(session, 'the browser holds a live session again');
    assert.notEqual(session.id, id, 'a new session');
    const shown = await waitForReady(page, { notId: id });
    assert.equal(shown, session.id, 'session-status shows the new session');
  });

  uiTest('rotating twice behind the page still costs one refusal per action', opts, async ({ context }) => {
    const page = await context.newPage();
    await openApp(page, suite.server.base);
    for (let round = 0; round < 2; round += 1) {
      await rotateCsrfBehindPage(context, suite.server.base);
      const before = await counters(suite.server.base);
      await convertInPage(page, { file: csvFile(`round-${round}.csv`), target: 'json' });
      await sleep(300);
      const now = await counters(suite.server.base);
      assert.equal(now.csrfRejections - before.csrfRejections, 1, `round ${round}: exactly one CSRF rejection`);
      assert.equal(now.created - before.created, 0, `round ${round}: no session created`);
      await page.getByTestId('convert-another').click();
      await waitUntil(async () => (await page.getByTestId('file-input').count()) === 1, { message: 'file-input' });
    }
  });
});
