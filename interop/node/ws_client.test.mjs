// Node's `ws` client against imphnen's example servers (run with `node --test`).
//
// `scripts/interop.sh` starts `examples/echo` and `examples/seed_tour` and passes their base URLs
// in IMPHNEN_ECHO_URL and IMPHNEN_TOUR_URL. Every wait has a timeout.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import WebSocket from 'ws';

const TIMEOUT_MS = 5000;
const MIB = 1024 * 1024;

function base(name) {
  const url = process.env[name];
  assert.ok(url, `${name} is not set; run the tests through scripts/interop.sh`);
  return url;
}

/** Opens a WebSocket and returns it with a queue of received messages and its close event. */
async function open(url) {
  const ws = new WebSocket(url, { maxPayload: 32 * MIB });
  const inbox = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const msg = { data: isBinary ? data : data.toString('utf8'), isBinary };
    const w = waiters.shift();
    if (w) w(msg);
    else inbox.push(msg);
  });
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await within(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  }), `open ${url}`);
  const next = () => within(
    inbox.length ? Promise.resolve(inbox.shift()) : new Promise((resolve) => waiters.push(resolve)),
    'a message',
  );
  return { ws, next, closed: () => within(closed, 'the close') };
}

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Sends `parts` as one fragmented message (ws's `fin: false` for all but the last frame). */
function sendFragments(ws, parts, binary) {
  parts.forEach((part, i) => ws.send(part, { binary, fin: i === parts.length - 1 }));
}

const echo = (path = '/echo') => open(base('IMPHNEN_ECHO_URL') + path);
const tour = (path) => open(base('IMPHNEN_TOUR_URL') + path);

// ---------------------------------------------------------------- examples/echo

test('text is echoed as text', async () => {
  const c = await echo();
  for (const text of ['hello', '', 'héllo wörld ✓', '🦀'.repeat(1000)]) {
    c.ws.send(text);
    assert.deepEqual(await c.next(), { data: text, isBinary: false });
  }
  c.ws.close(1000);
  await c.closed();
});

test('binary is echoed as binary', async () => {
  const c = await echo();
  const payload = randomBytes(4096);
  c.ws.send(payload);
  const got = await c.next();
  assert.equal(got.isBinary, true);
  assert.ok(payload.equals(got.data));
  c.ws.close();
});

test('1 MiB messages round-trip', async () => {
  const c = await echo();
  const binary = randomBytes(MIB);
  c.ws.send(binary);
  assert.ok(binary.equals((await c.next()).data));
  const text = 'x'.repeat(MIB);
  c.ws.send(text);
  assert.equal((await c.next()).data, text);
  c.ws.close();
});

test('a fragmented send arrives as one message', async () => {
  const c = await echo();
  sendFragments(c.ws, ['frag', 'ment', 'ed ✓'], false);
  assert.deepEqual(await c.next(), { data: 'fragmented ✓', isBinary: false });
  sendFragments(c.ws, [Buffer.alloc(70000, 0), Buffer.from([1, 2, 3])], true);
  const got = await c.next();
  assert.equal(got.isBinary, true);
  assert.ok(Buffer.concat([Buffer.alloc(70000, 0), Buffer.from([1, 2, 3])]).equals(got.data));
  c.ws.close();
});

test('a ping is answered with its payload', async () => {
  const c = await echo();
  const pong = within(new Promise((resolve) => c.ws.once('pong', resolve)), 'the pong');
  c.ws.ping(Buffer.from('are you there'));
  assert.equal((await pong).toString(), 'are you there');
  c.ws.close();
});

test('the client close code comes back from the server', async () => {
  const c = await echo();
  c.ws.close(4321, 'node says bye');
  const { code } = await c.closed();
  assert.equal(code, 4321);
});

// ---------------------------------------------------------------- examples/seed_tour

test('quickstart welcomes, then echoes', async () => {
  const c = await tour('/quickstart');
  assert.equal((await c.next()).data, 'Welcome!');
  c.ws.send('Hello!');
  assert.equal((await c.next()).data, 'Echo: Hello!');
  c.ws.close();
});

test('tour echo prefixes large and fragmented messages', async () => {
  const c = await tour('/echo');
  const big = 'y'.repeat(MIB - 16);
  c.ws.send(big);
  assert.equal((await c.next()).data, `Echo: ${big}`);
  sendFragments(c.ws, ['a', 'b', 'c'], false);
  assert.equal((await c.next()).data, 'Echo: abc');
  c.ws.close();
});

test('a message over the tour\'s 1 MiB limit is refused with 1009', async () => {
  const c = await tour('/echo');
  c.ws.send('z'.repeat(MIB + 1));
  assert.equal((await c.closed()).code, 1009);
});

test('connect without a token closes with 4001 and its reason', async () => {
  const c = await tour('/connect');
  assert.deepEqual(await c.closed(), { code: 4001, reason: 'Authentication required' });
});

test('a new session closes the old one with 4000 and its reason', async () => {
  const first = await tour('/user/node-session');
  const second = await tour('/user/node-session');
  assert.deepEqual(await first.closed(), { code: 4000, reason: 'New session started' });
  second.ws.close();
});

test('invalid JSON on /api closes with 4002', async () => {
  const c = await tour('/api');
  c.ws.send('{"type":"greet","payload":1}');
  assert.deepEqual(JSON.parse((await c.next()).data), { type: 'greet', ok: true });
  c.ws.send('not json');
  assert.deepEqual(await c.closed(), { code: 4002, reason: 'Invalid JSON' });
});

test('room parameter prefixes messages', async () => {
  const c = await tour('/room/lobby');
  c.ws.send('hi');
  assert.equal((await c.next()).data, '[lobby] hi');
  c.ws.close();
});

test('perMessageDeflate: negotiated with the shared and the dedicated mode, messages round-trip', async () => {
  for (const [name, answer] of [
    ['IMPHNEN_ECHO_SHARED_URL', 'server_no_context_takeover'],
    ['IMPHNEN_ECHO_DEDICATED_URL', null],
  ]) {
    const ws = new WebSocket(base(name) + '/echo', { perMessageDeflate: true, maxPayload: 32 * MIB });
    const inbox = [];
    const waiters = [];
    ws.on('message', (data, isBinary) => {
      const msg = isBinary ? data : data.toString('utf8');
      const w = waiters.shift();
      if (w) w(msg);
      else inbox.push(msg);
    });
    const upgrade = await within(new Promise((resolve, reject) => {
      ws.once('upgrade', (res) => resolve(res.headers['sec-websocket-extensions']));
      ws.once('error', reject);
    }), `upgrade ${name}`);
    await within(new Promise((resolve) => (ws.readyState === WebSocket.OPEN ? resolve() : ws.once('open', resolve))), 'open');
    assert.match(upgrade, /^permessage-deflate/);
    if (answer) assert.ok(upgrade.includes(answer), upgrade);
    else assert.equal(upgrade, 'permessage-deflate');
    const next = () => within(inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => waiters.push(r)), 'an echo');
    const messages = ['short', 'json '.repeat(4000), randomBytes(50000), Buffer.alloc(MIB, 7)];
    for (let round = 0; round < 2; round++) {
      for (const m of messages) {
        ws.send(m);
        const got = await next();
        if (typeof m === 'string') assert.equal(got, m);
        else assert.ok(Buffer.compare(got, m) === 0, `binary of ${m.length} bytes`);
      }
    }
    ws.close(1000);
  }
});
