// Headless Chromium against `examples/chat`, which admits WebSockets from its own origin only
// (`AllowedOrigins::SameHost`): the page loaded from http://127.0.0.1:PORT opens
// ws://127.0.0.1:PORT/chat, and is refused when it opens ws://localhost:PORT/chat — the same
// server, but another origin (cross-site WebSocket hijacking is what the check stops).
//
// A socket that never opens tells little by itself (close code 1006 is also what a failed
// connection to localhost gives), so the test also shows that the refusal is the server's 403:
// the browser's own network events (Chrome DevTools Protocol) give the status of each handshake
// and the Origin it carried, and a page loaded from http://localhost:PORT, whose origin matches,
// opens ws://localhost:PORT/chat.
//
// `scripts/interop.sh` starts the chat server and passes its base URL in IMPHNEN_CHAT_URL.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { launch } from './chromium.mjs';

const url = process.env.IMPHNEN_CHAT_URL;

/**
 * Watches `page`'s WebSocket handshakes through CDP's Network domain; returns a lookup of the
 * handshake for a socket URL: `{ origin, status }`, the Origin the browser sent and the status
 * of the server's answer. A 101 comes as `webSocketHandshakeResponseReceived`; any other status
 * only as the `webSocketFrameError` Chromium reports the failed handshake with ("Error during
 * WebSocket handshake: Unexpected response code: 403"). The lookup waits up to 5 s for either
 * event, which may reach us after the page saw the socket open or fail (`status` undefined if
 * none came).
 */
async function watchHandshakes(page) {
  const cdp = await page.context().newCDPSession(page);
  const byId = new Map();
  const entry = (requestId) => {
    if (!byId.has(requestId)) byId.set(requestId, {});
    return byId.get(requestId);
  };
  const header = (headers, name) =>
    Object.entries(headers).find(([n]) => n.toLowerCase() === name)?.[1];
  cdp.on('Network.webSocketCreated', ({ requestId, url }) => { entry(requestId).url = url; });
  cdp.on('Network.webSocketWillSendHandshakeRequest', ({ requestId, request }) => {
    entry(requestId).origin = header(request.headers, 'origin');
  });
  cdp.on('Network.webSocketHandshakeResponseReceived', ({ requestId, response }) => {
    entry(requestId).status = response.status;
  });
  cdp.on('Network.webSocketFrameError', ({ requestId, errorMessage }) => {
    const code = /handshake: Unexpected response code: (\d+)/.exec(errorMessage)?.[1];
    if (code) entry(requestId).status = Number(code);
  });
  await cdp.send('Network.enable');
  return async (target) => {
    const find = () => [...byId.values()].find((h) => h.url === target);
    for (let waited = 0; find()?.status === undefined && waited < 5000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const found = find();
    return found && { origin: found.origin, status: found.status };
  };
}

/**
 * What happened to a socket to `target` opened from `page`: 'open', or 'refused (code)' (an
 * error, then a close without ever opening), or 'timeout'.
 */
function attempt(page, target) {
  return page.evaluate((target) => new Promise((resolve) => {
    const ws = new WebSocket(target);
    let opened = false;
    ws.onopen = () => { opened = true; ws.close(); resolve('open'); };
    ws.onclose = (e) => { if (!opened) resolve(`refused (${e.code})`); };
    setTimeout(() => resolve('timeout'), 8000);
  }), target);
}

test('the chat admits sockets from its own origin and refuses another with 403', async () => {
  assert.ok(url, 'IMPHNEN_CHAT_URL is not set; run the test through scripts/interop.sh');
  const port = new URL(url).port;
  const numeric = `http://127.0.0.1:${port}`;
  const named = `http://localhost:${port}`;
  const browser = await launch();
  try {
    // A page from http://127.0.0.1:PORT. Each probe has a query of its own, so that it is not
    // mistaken for the page's own socket to /chat.
    const page = await (await browser.newContext()).newPage();
    const handshake = await watchHandshakes(page);
    await page.goto(numeric);
    const same = `ws://127.0.0.1:${port}/chat?probe=same`;
    assert.equal(await attempt(page, same), 'open');
    assert.deepEqual(await handshake(same), { origin: numeric, status: 101 });
    const other = `ws://localhost:${port}/chat?probe=other`;
    assert.equal(await attempt(page, other), 'refused (1006)');
    assert.deepEqual(await handshake(other), { origin: numeric, status: 403 });

    // The control: a page from http://localhost:PORT reaches ws://localhost:PORT, so the
    // refusal above was the origin, not the name.
    const local = await (await browser.newContext()).newPage();
    const localHandshake = await watchHandshakes(local);
    await local.goto(named);
    const own = `ws://localhost:${port}/chat?probe=control`;
    assert.equal(await attempt(local, own), 'open');
    assert.deepEqual(await localHandshake(own), { origin: named, status: 101 });
  } finally {
    await browser.close();
  }
});
