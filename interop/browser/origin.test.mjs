// Headless Chromium against `examples/chat`, which admits WebSockets from its own origin only
// (`AllowedOrigins::SameHost`): the page loaded from http://127.0.0.1:PORT opens
// ws://127.0.0.1:PORT/chat, and is refused when it opens ws://localhost:PORT/chat — the same
// server, but another origin (cross-site WebSocket hijacking is what the check stops).
//
// `scripts/interop.sh` starts the chat server and passes its base URL in IMPHNEN_CHAT_URL.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { launch } from './chromium.mjs';

const url = process.env.IMPHNEN_CHAT_URL;

test('the chat admits sockets from its own origin and refuses another', async () => {
  assert.ok(url, 'IMPHNEN_CHAT_URL is not set; run the test through scripts/interop.sh');
  const browser = await launch();
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(url);
    const port = new URL(url).port;
    // What happened to a socket opened from this page: 'open', or 'refused' (error, then a
    // close without ever opening: the browser saw the 403).
    const attempt = (target) => page.evaluate((target) => new Promise((resolve) => {
      const ws = new WebSocket(target);
      let opened = false;
      ws.onopen = () => { opened = true; ws.close(); resolve('open'); };
      ws.onclose = (e) => { if (!opened) resolve(`refused (${e.code})`); };
      setTimeout(() => resolve('timeout'), 8000);
    }), target);
    assert.equal(await attempt(`ws://127.0.0.1:${port}/chat`), 'open');
    assert.equal(await attempt(`ws://localhost:${port}/chat`), 'refused (1006)');
  } finally {
    await browser.close();
  }
});
