// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) against
// `examples/chat`: two pages open the chat, a message typed in one appears in both, the online
// count follows `user_joined` / `user_left`, and permessage-deflate is negotiated.
//
// `scripts/interop.sh` starts the chat server and passes its base URL in IMPHNEN_CHAT_URL
// (http://127.0.0.1:PORT). On failure, a screenshot of each page goes to target/interop/.
// playwright-core is installed by `npm ci` in interop/node (one lockfile for all Node clients).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';

const require = createRequire(new URL('../node/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const TIMEOUT_MS = 10000;
const SHOTS = new URL('../../target/interop/', import.meta.url).pathname;

const url = process.env.IMPHNEN_CHAT_URL;

test('two Chromium pages chat through examples/chat', async () => {
  assert.ok(url, 'IMPHNEN_CHAT_URL is not set; run the test through scripts/interop.sh');
  // playwright gives every launch a fresh, temporary profile (its own --user-data-dir).
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    timeout: 30000,
  });
  const pages = {};
  try {
    const alice = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    Object.assign(pages, { alice, bob });
    for (const page of [alice, bob]) page.setDefaultTimeout(TIMEOUT_MS);

    const countOf = (page) => page.locator('#count');
    await alice.goto(url);
    await countOf(alice).filter({ hasText: /^1$/ }).waitFor();

    await bob.goto(url);
    // user_joined reaches both pages with count 2.
    await countOf(alice).filter({ hasText: /^2$/ }).waitFor();
    await countOf(bob).filter({ hasText: /^2$/ }).waitFor();

    await alice.locator('#input').fill('hello from alice');
    await alice.locator('#input').press('Enter');
    for (const page of [alice, bob]) {
      await page.locator('#messages .message', { hasText: 'User: hello from alice' }).waitFor();
    }
    assert.equal(await alice.locator('#input').inputValue(), '', 'the input is cleared after sending');

    await bob.locator('#input').fill('and hi from bob ✓');
    await bob.locator('#input').press('Enter');
    for (const page of [alice, bob]) {
      await page.locator('#messages .message', { hasText: 'and hi from bob ✓' }).waitFor();
      assert.equal(await page.locator('#messages .message').count(), 2);
    }
    // Timestamps are ISO 8601, as JavaScript's toISOString() writes them.
    const first = await bob.locator('#messages .message').first().textContent();
    assert.match(first, /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] User: hello from alice$/);

    // Bob leaves: user_left brings alice's count back to 1.
    await bob.close();
    delete pages.bob;
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
