// Headless Chromium against `examples/chat` served over https (TLS_CERT and TLS_KEY set): the
// page, loaded over https, must open its socket with wss:// (a ws:// socket from an https page
// is blocked as mixed content), and a message typed in one page reaches the other.
//
// `scripts/interop.sh` starts the chat server with a self-signed certificate and passes its
// base URL in IMPHNEN_CHAT_HTTPS_URL (https://127.0.0.1:PORT); the browser contexts accept
// that certificate (`ignoreHTTPSErrors`). On failure, screenshots go to target/interop/.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';

import { launch } from './chromium.mjs';

const TIMEOUT_MS = 10000;
const SHOTS = new URL('../../target/interop/', import.meta.url).pathname;

const url = process.env.IMPHNEN_CHAT_HTTPS_URL;

test('two Chromium pages chat over https and wss through examples/chat', async () => {
  assert.ok(url, 'IMPHNEN_CHAT_HTTPS_URL is not set; run the test through scripts/interop.sh');
  assert.match(url, /^https:/);
  const browser = await launch();
  const pages = {};
  try {
    const open = async () => {
      const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
      page.setDefaultTimeout(TIMEOUT_MS);
      return page;
    };
    const alice = await open();
    const bob = await open();
    Object.assign(pages, { alice, bob });
    const countOf = (page) => page.locator('#count');
    // The name dialog opens on a first visit; Enter submits it.
    const join = async (page, name) => {
      await page.locator('#join #name').fill(name);
      await page.locator('#join #name').press('Enter');
      await page.locator('#join').waitFor({ state: 'hidden' });
    };

    // The chat's socket is the page's first WebSocket: it must be wss://.
    const socket = alice.waitForEvent('websocket');
    await alice.goto(url);
    assert.equal(await alice.evaluate(() => location.protocol), 'https:');
    assert.match((await socket).url(), /^wss:\/\/127\.0\.0\.1:\d+\/chat$/);
    await countOf(alice).filter({ hasText: /^1$/ }).waitFor();
    await join(alice, 'alice');

    await bob.goto(url);
    await countOf(alice).filter({ hasText: /^2$/ }).waitFor();
    await join(bob, 'bob');
    await alice.locator('#input').fill('hello over wss');
    await alice.locator('#input').press('Enter');
    await alice.locator('#messages .message.own', { hasText: 'hello over wss' }).waitFor();
    const got = bob.locator('#messages .message:not(.own)', { hasText: 'hello over wss' });
    await got.waitFor();
    assert.equal(await got.locator('.sender').textContent(), 'alice');
  } catch (err) {
    mkdirSync(SHOTS, { recursive: true });
    for (const [name, page] of Object.entries(pages)) {
      if (!page.isClosed()) {
        await page.screenshot({ path: `${SHOTS}chat-https-${name}.png`, fullPage: true }).catch(() => {});
      }
    }
    throw err;
  } finally {
    await browser.close();
  }
});
