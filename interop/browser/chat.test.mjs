// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) against
// `examples/chat`: the page loads its script and stylesheet, two people pick their names, a
// message typed by one appears in both pages (on the right and coloured for its sender), the
// online count follows `user_joined` / `user_left`, the name is remembered across a reload, a
// dropped socket shows "reconnecting…" and comes back, and permessage-deflate is negotiated.
//
// `scripts/interop.sh` starts the chat server and passes its base URL in IMPHNEN_CHAT_URL
// (http://127.0.0.1:PORT). On failure, a screenshot of each page goes to target/interop/.
// playwright-core is installed by `npm ci` in interop/node (one lockfile for all Node clients).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';

import { launch } from './chromium.mjs';

const TIMEOUT_MS = 10000;
const SHOTS = new URL('../../target/interop/', import.meta.url).pathname;

const url = process.env.IMPHNEN_CHAT_URL;

test('two Chromium pages chat through examples/chat', async () => {
  assert.ok(url, 'IMPHNEN_CHAT_URL is not set; run the test through scripts/interop.sh');
  // playwright gives every launch a fresh, temporary profile (its own --user-data-dir).
  const browser = await launch();
  const pages = {};
  try {
    const alice = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    Object.assign(pages, { alice, bob });
    for (const page of [alice, bob]) page.setDefaultTimeout(TIMEOUT_MS);

    const countOf = (page) => page.locator('#count');
    const messagesOf = (page) => page.locator('#messages .message');
    // The name dialog opens on a first visit; Enter submits it.
    const join = async (page, name) => {
      await page.locator('#join #name').fill(name);
      await page.locator('#join #name').press('Enter');
      await page.locator('#join').waitFor({ state: 'hidden' });
      await page.locator('#me', { hasText: name }).waitFor();
    };

    await alice.goto(url);
    // The stylesheet applied: the input bar is a flex row at the bottom of the window.
    assert.equal(await alice.locator('#composer').evaluate((e) => getComputedStyle(e).display), 'flex');
    await countOf(alice).filter({ hasText: /^1$/ }).waitFor();
    await join(alice, 'alice');

    await bob.goto(url);
    // user_joined reaches both pages with count 2.
    await countOf(alice).filter({ hasText: /^2$/ }).waitFor();
    await countOf(bob).filter({ hasText: /^2$/ }).waitFor();
    await join(bob, 'bob');

    await alice.locator('#input').fill('hello from alice');
    await alice.locator('#input').press('Enter');
    // The sender's own message is marked `own` (right-aligned, coloured); the other page's is not.
    await alice.locator('#messages .message.own', { hasText: 'hello from alice' }).waitFor();
    await bob.locator('#messages .message:not(.own)', { hasText: 'hello from alice' }).waitFor();
    assert.equal(await alice.locator('#input').inputValue(), '', 'the input is cleared after sending');
    const own = alice.locator('#messages .message.own').first();
    assert.equal(await own.evaluate((e) => getComputedStyle(e).alignSelf), 'flex-end');

    await bob.locator('#input').fill('and hi from bob ✓');
    await bob.locator('#input').press('Enter');
    for (const page of [alice, bob]) {
      await messagesOf(page).filter({ hasText: 'and hi from bob ✓' }).waitFor();
      assert.equal(await messagesOf(page).count(), 2);
    }
    // Each message shows its sender, and its time (ISO 8601 as the server sent it, in datetime).
    const first = messagesOf(bob).first();
    assert.equal(await first.locator('.sender').textContent(), 'alice');
    assert.equal(await first.locator('.content').textContent(), 'hello from alice');
    assert.match(
      await first.locator('time').getAttribute('datetime'),
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
    );
    assert.match(await first.locator('time').textContent(), /\d/);

    // Bob leaves: user_left brings alice's count back to 1.
    await bob.close();
    delete pages.bob;
    await countOf(alice).filter({ hasText: /^1$/ }).waitFor();

    // The name is remembered: a reload asks nothing and keeps alice.
    await alice.reload();
    await alice.locator('#me', { hasText: 'alice' }).waitFor();
    assert.equal(await alice.locator('#join').isVisible(), false);
    // The name in the input bar opens the dialog again to change it.
    await alice.locator('#me').click();
    await join(alice, 'alice2');
    await alice.locator('#status[data-state="open"]').waitFor({ state: 'attached' });

    // A dropped socket: the page says so and connects again by itself.
    await alice.evaluate(() => socket.close());
    await alice.locator('#status[data-state="reconnecting"]', { hasText: 'reconnecting' }).waitFor();
    await alice.locator('#status[data-state="open"]').waitFor({ state: 'attached' });
    await countOf(alice).filter({ hasText: /^1$/ }).waitFor();

    // The server runs with COMPRESSION=shared: the page's socket negotiated permessage-deflate,
    // so Chromium compressed what it sent, and a message past the server's 1 KiB threshold
    // comes back compressed too.
    const long = `long ${'0123456789'.repeat(300)} end`;
    await alice.locator('#input').fill(long);
    await alice.locator('#input').press('Enter');
    await alice.locator('#messages .message', { hasText: long }).waitFor();
    const extensions = await alice.evaluate(() => new Promise((resolve, reject) => {
      const ws = new WebSocket('ws://' + location.host + '/chat');
      ws.onopen = () => { resolve(ws.extensions); ws.close(); };
      ws.onerror = () => reject(new Error('the WebSocket failed'));
    }));
    assert.equal(extensions, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  } catch (err) {
    mkdirSync(SHOTS, { recursive: true });
    for (const [name, page] of Object.entries(pages)) {
      if (!page.isClosed()) {
        await page.screenshot({ path: `${SHOTS}chat-${name}.png`, fullPage: true }).catch(() => {});
      }
    }
    throw err;
  } finally {
    await browser.close();
  }
});
