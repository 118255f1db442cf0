#!/usr/bin/env node
// Load client for the Socket.IO cross-node anchor (see README.md beside this file).
//
// One publisher on node A (--publish-url) emits "m" with a binary payload; N subscribers on
// node B (--url) receive it through the Redis adapter. Only B's deliveries are counted and
// timed, from the publisher's send to a subscriber's receipt, as `imphnen-loadgen broadcast
// --publish-url` does for our own server. The publisher also receives its own broadcasts
// (through A, locally): by default those pace the closed loop, and they are not counted.
// Socket.IO has no backpressure from B to A, so when B cannot keep up with A's local echo
// the backlog grows without bound (latency in seconds, an undrained tail counted as lost);
// --pace b counts a message in flight until B's last subscriber has it instead.
//
// Payload: sequence (u64 LE), send time (u64 LE, process.hrtime.bigint() ns), filler up to
// --size. The send time is taken when the message is handed to socket.io-client. In open loop
// the client also records how far each send was behind its schedule (`schedule_lag`): Node's
// timers have millisecond steps, so a send can be up to ~1 ms late even on an idle client,
// and a much larger lag means the client, not the servers, set the pace.
//
// With --processes P the subscribers are split over P processes (the publisher stays in
// process 0). Latency stays valid across processes: process.hrtime is CLOCK_MONOTONIC, one
// clock shared by every process on the machine, so a send time taken in process 0 can be
// subtracted from a receipt time taken in process k.
"use strict";

const { fork } = require("node:child_process");
const { io } = require("socket.io-client");

const DRAIN_LIMIT_MS = 3000;
const SETTLE_MS = 200; // after every subscriber is connected, before the first publish
const HEADER = 16;
const CONNECT_BATCH = 50;
const CONNECT_TIMEOUT_MS = 20000;

const USAGE = `usage: node client.js --url URL --publish-url URL [options]
  --url URL            node B: the subscribers connect here (e.g. http://127.0.0.1:3002)
  --publish-url URL    node A: the one publisher connects here
  --subscribers N      subscribers on B (default 100)
  --size BYTES         payload bytes, at least ${HEADER} (default 64)
  --duration S         measured window in seconds (default 10)
  --warmup S           unmeasured lead-in in seconds (default 2)
  --inflight K         closed loop: at most K of the publisher's messages not yet back to it;
                       with --rate, a cap (sends skipped at the cap count as missed_sends)
  --rate R             open loop: R publishes per second, evenly spaced
  --pace a|b           whose receipts count a message as no longer in flight: the
                       publisher's own, through A (a, default), or the last subscriber
                       connected to B in process 0 (b: B's backlog then bounds the loop)
  --processes P        split the subscribers over P client processes (default 1)
  --json PATH          write the result as JSON
Every option may also come from the environment: URL, PUBLISH_URL, SUBSCRIBERS, SIZE,
DURATION, WARMUP, INFLIGHT, RATE, PACE, PROCESSES, JSON.`;

const nowNs = () => Number(process.hrtime.bigint()); // exact below 2^53 ns (104 days uptime)

function parseArgs(argv, env) {
  const names = {
    url: "URL",
    "publish-url": "PUBLISH_URL",
    subscribers: "SUBSCRIBERS",
    size: "SIZE",
    duration: "DURATION",
    warmup: "WARMUP",
    inflight: "INFLIGHT",
    rate: "RATE",
    pace: "PACE",
    processes: "PROCESSES",
    json: "JSON",
  };
  const raw = {};
  for (const [opt, envName] of Object.entries(names)) {
    if (env[envName] !== undefined && env[envName] !== "") raw[opt] = env[envName];
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") {
      console.log(USAGE);
      process.exit(0);
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || !(m[1] in names)) throw new Error(`unknown argument ${a}`);
    const value = m[2] !== undefined ? m[2] : argv[++i];
    if (value === undefined) throw new Error(`${a} needs a value`);
    raw[m[1]] = value;
  }
  const num = (opt, dflt, check) => {
    if (raw[opt] === undefined) return dflt;
    const v = Number(raw[opt]);
    if (!Number.isFinite(v) || !check(v)) throw new Error(`bad --${opt} ${raw[opt]}`);
    return v;
  };
  const int = (v) => Number.isInteger(v) && v >= 1;
  const o = {
    url: raw.url,
    publishUrl: raw["publish-url"],
    subscribers: num("subscribers", 100, int),
    size: num("size", 64, int),
    duration: num("duration", 10, (v) => v > 0),
    warmup: num("warmup", 2, (v) => v >= 0),
    inflight: num("inflight", undefined, int),
    rate: num("rate", undefined, (v) => v > 0),
    pace: raw.pace ?? "a",
    processes: num("processes", 1, int),
    json: raw.json,
  };
  if (o.pace !== "a" && o.pace !== "b") throw new Error(`bad --pace ${o.pace}`);
  if (!o.url || !o.publishUrl) throw new Error("--url and --publish-url are required");
  if (o.size < HEADER) throw new Error(`--size must be at least ${HEADER}`);
  if (o.rate === undefined && o.inflight === undefined) o.inflight = 1;
  o.processes = Math.min(o.processes, o.subscribers);
  return o;
}

// Latency histogram in ns: exact below 256 ns, then 128 buckets per power of two (< 0.8 %
// relative error), up to 2^40 ns. Plain counts, so histograms of processes add up.
class Histogram {
  constructor(counts) {
    this.counts = counts ? Float64Array.from(counts) : new Float64Array(128 * 34);
    this.total = 0;
    this.sum = 0;
    this.max = 0;
  }
  static index(v) {
    if (v < 256) return v;
    const bits = v < 2 ** 32 ? 32 - Math.clz32(v) : 64 - Math.clz32(Math.floor(v / 2 ** 32));
    const k = bits - 8;
    return 128 * k + Math.floor(v / 2 ** k);
  }
  // Highest value that falls in bucket i (HDR's "highest equivalent value").
  static upper(i) {
    if (i < 256) return i;
    const k = Math.floor(i / 128) - 1;
    return (i - 128 * k + 1) * 2 ** k - 1;
  }
  record(v) {
    v = Math.max(1, Math.round(v));
    const i = Math.min(Histogram.index(v), this.counts.length - 1);
    this.counts[i]++;
    this.total++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }
  add(other) {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i];
    this.total += other.total;
    this.sum += other.sum;
    this.max = Math.max(this.max, other.max);
  }
  quantile(q) {
    if (this.total === 0) return 0;
    const want = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= want) return Math.min(Histogram.upper(i), this.max);
    }
    return this.max;
  }
  toJSON() {
    return { counts: Array.from(this.counts), total: this.total, sum: this.sum, max: this.max };
  }
  static fromJSON(j) {
    const h = new Histogram(j.counts);
    Object.assign(h, { total: j.total, sum: j.sum, max: j.max });
    return h;
  }
}

function asBuffer(p) {
  if (Buffer.isBuffer(p)) return p;
  if (p instanceof ArrayBuffer) return Buffer.from(p);
  if (ArrayBuffer.isView(p)) return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  return null;
}

function connect(url) {
  return new Promise((resolve, reject) => {
    const s = io(url, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      timeout: CONNECT_TIMEOUT_MS,
    });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => {
      s.close();
      reject(new Error(`connect ${url}: ${e.message}`));
    });
  });
}

// The subscribers of one process, their counters and the window they count in.
class Shard {
  constructor(o, count) {
    this.o = o;
    this.count = count;
    this.subs = [];
    this.ws = Infinity; // window start / end, hrtime ns
    this.we = Infinity;
    this.hist = new Histogram();
    this.messages = 0;
    this.lost = 0;
    this.reordered = 0;
    this.mismatches = 0;
    this.errors = 0;
    this.problem = undefined;
    this.draining = false;
    this.witness = null; // with --pace b (process 0): receipts of this subscriber ack
    this.onWitness = null;
  }

  async connect() {
    for (let i = 0; i < this.count; i += CONNECT_BATCH) {
      const n = Math.min(CONNECT_BATCH, this.count - i);
      const batch = await Promise.all(Array.from({ length: n }, () => connect(this.o.url)));
      for (const s of batch) this.attach(s);
    }
  }

  attach(socket) {
    const sub = { socket, next: 0 };
    this.subs.push(sub);
    socket.on("m", (p) => this.receive(sub, p));
    socket.on("disconnect", (reason) => {
      if (this.draining && reason === "io client disconnect") return;
      this.errors++;
      this.problem ??= `subscriber disconnected: ${reason}`;
    });
  }

  receive(sub, p) {
    const now = nowNs();
    const buf = asBuffer(p);
    if (!buf || buf.length !== this.o.size) {
      this.mismatches++;
      this.problem ??= `malformed delivery: ${buf ? buf.length + " bytes" : typeof p}`;
      return;
    }
    const seq = Number(buf.readBigUInt64LE(0));
    const sent = Number(buf.readBigUInt64LE(8));
    if (seq === sub.next) {
      sub.next++;
    } else if (seq > sub.next) {
      this.lost += seq - sub.next;
      this.problem ??= `got ${seq}, expected ${sub.next}`;
      sub.next = seq + 1;
    } else {
      this.reordered++;
      this.problem ??= `got ${seq} after ${sub.next - 1}`;
    }
    if (sub === this.witness) this.onWitness(seq);
    if (now >= this.ws && now < this.we) this.messages++;
    if (sent >= this.ws && sent < this.we) this.hist.record(now - sent);
  }

  // Samples this process's CPU time at the window's two ends.
  begin(ws, we) {
    this.ws = ws;
    this.we = we;
    const at = (t, f) => setTimeout(f, Math.max(0, (t - nowNs()) / 1e6));
    at(ws, () => {
      this.cpu0 = process.cpuUsage();
      this.t0 = nowNs();
    });
    at(we, () => {
      const d = process.cpuUsage(this.cpu0);
      this.cpuNs = (d.user + d.system) * 1000;
      this.cpuWallNs = nowNs() - this.t0;
    });
  }

  // After the publisher stopped: waits until every subscriber saw all `published` messages
  // or DRAIN_LIMIT_MS passed; whatever is still missing then is lost.
  async finish(published) {
    const limit = Date.now() + DRAIN_LIMIT_MS;
    while (Date.now() < limit && !this.subs.every((s) => s.next >= published)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.draining = true;
    let tail = 0;
    for (const s of this.subs) {
      tail += Math.max(0, published - s.next);
      s.socket.close();
    }
    if (tail) this.problem ??= `${tail} deliveries still missing ${DRAIN_LIMIT_MS} ms after the last publish`;
    this.lost += tail;
    return {
      hist: this.hist.toJSON(),
      messages: this.messages,
      lost: this.lost,
      reordered: this.reordered,
      mismatches: this.mismatches,
      errors: this.errors,
      problem: this.problem,
      cpuNs: this.cpuNs ?? 0,
      cpuWallNs: this.cpuWallNs ?? 0,
    };
  }
}

// The one publisher, on node A.
class Publisher {
  constructor(o) {
    this.o = o;
    this.sent = 0;
    this.acked = 0;
    this.missed = 0;
    this.lag = new Histogram(); // open loop: send time minus due time, inside the window
    this.stopped = true;
    this.filler = Buffer.alloc(o.size - HEADER);
    for (let i = 0; i < this.filler.length; i++) this.filler[i] = (i * 31 + 7) & 0xff;
  }

  async connect() {
    this.socket = await connect(this.o.publishUrl);
    this.socket.on("m", (p) => {
      const buf = asBuffer(p);
      if (this.o.pace === "a" && buf && buf.length >= HEADER) this.ack(Number(buf.readBigUInt64LE(0)));
    });
    this.socket.on("disconnect", (reason) => {
      if (!this.stopped) this.problem ??= `publisher disconnected: ${reason}`;
    });
  }

  send(stamp) {
    // A fresh buffer each time: socket.io-client may queue the packet before writing it.
    const buf = Buffer.allocUnsafe(this.o.size);
    buf.writeBigUInt64LE(BigInt(this.sent), 0);
    buf.writeBigUInt64LE(BigInt(stamp), 8);
    this.filler.copy(buf, HEADER);
    this.socket.emit("m", buf);
    this.sent++;
  }

  // Message `seq` is no longer in flight (and, by order, neither is any before it).
  ack(seq) {
    if (seq < this.acked) return;
    this.acked = seq + 1;
    if (this.o.rate === undefined) this.fill();
  }

  // Closed loop: tops the in-flight count back up to K.
  fill() {
    while (!this.stopped && this.sent - this.acked < this.o.inflight) this.send(nowNs());
  }

  // Publishes from now until `stopAt` (hrtime ns); misses count only inside [ws, stopAt).
  start(ws, stopAt) {
    this.stopped = false;
    setTimeout(() => (this.stopped = true), Math.max(0, (stopAt - nowNs()) / 1e6));
    if (this.o.rate === undefined) return this.fill();
    const interval = 1e9 / this.o.rate;
    let due = nowNs();
    const cap = this.o.inflight ?? Infinity;
    // Node timers have millisecond steps: each tick sends everything that came due since the
    // last one (a batch when the tick came late), then sleeps until the next one is due.
    const tick = () => {
      if (this.stopped) return;
      const now = nowNs();
      while (due <= now && due < stopAt) {
        if (this.sent - this.acked < cap) {
          const t = nowNs();
          this.send(t);
          if (due >= ws) this.lag.record(t - due);
        } else if (due >= ws) {
          this.missed++;
        }
        due += interval;
      }
      setTimeout(tick, Math.max(1, Math.ceil((due - nowNs()) / 1e6)));
    };
    tick();
  }

  stop() {
    this.stopped = true;
    return this.sent;
  }
}

// ---- child process: subscribers only, driven by process 0 over IPC ----

function child() {
  let shard;
  process.on("message", async (m) => {
    try {
      if (m.type === "config") {
        shard = new Shard(m.o, m.count);
        await shard.connect();
        process.send({ type: "ready" });
      } else if (m.type === "begin") {
        shard.begin(m.ws, m.we);
      } else if (m.type === "finish") {
        process.send({ type: "result", result: await shard.finish(m.published) });
        process.disconnect();
      }
    } catch (e) {
      process.send({ type: "error", message: e.message });
      process.exit(1);
    }
  });
}

// A forked child seen from process 0, with the same calls as a local Shard.
class RemoteShard {
  constructor(o, count) {
    this.proc = fork(__filename, [], { env: { ...process.env, SIO_ANCHOR_CHILD: "1" } });
    this.waiting = null;
    this.proc.on("message", (m) => {
      const w = this.waiting;
      this.waiting = null;
      if (!w) return;
      if (m.type === "error") w.reject(new Error(m.message));
      else w.resolve(m);
    });
    this.proc.on("exit", (code) => {
      if (this.waiting && code !== 0) this.waiting.reject(new Error(`client process exited ${code}`));
    });
    this.o = o;
    this.count = count;
  }
  call(msg) {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.proc.send(msg);
    });
  }
  connect() {
    return this.call({ type: "config", o: this.o, count: this.count });
  }
  begin(ws, we) {
    this.proc.send({ type: "begin", ws, we });
  }
  async finish(published) {
    return (await this.call({ type: "finish", published })).result;
  }
}

// ---- process 0 ----

async function main() {
  const o = parseArgs(process.argv.slice(2), process.env);
  const per = (k) => Math.floor(o.subscribers / o.processes) + (k < o.subscribers % o.processes ? 1 : 0);
  const shards = [new Shard(o, per(0))];
  for (let k = 1; k < o.processes; k++) shards.push(new RemoteShard(o, per(k)));
  const pub = new Publisher(o);
  if (o.pace === "b") {
    // Socket.IO writes a room broadcast to its sockets in join order: the last subscriber
    // connected to B is about the last to be served.
    shards[0].onWitness = (seq) => pub.ack(seq);
  }

  try {
    await Promise.all([pub.connect(), ...shards.map((s) => s.connect())]);
  } catch (e) {
    for (const s of shards) if (s.proc) s.proc.kill();
    throw e;
  }
  if (o.pace === "b") shards[0].witness = shards[0].subs[shards[0].subs.length - 1];
  await new Promise((r) => setTimeout(r, SETTLE_MS));

  const t0 = nowNs();
  const ws = t0 + o.warmup * 1e9;
  const we = ws + o.duration * 1e9;
  for (const s of shards) s.begin(ws, we);
  pub.start(ws, we);
  await new Promise((r) => setTimeout(r, Math.max(0, (we - nowNs()) / 1e6) + 5));
  while (nowNs() < we) await new Promise((r) => setTimeout(r, 1));
  const published = pub.stop();

  const results = await Promise.all(shards.map((s) => s.finish(published)));
  pub.socket.close();

  const hist = new Histogram();
  const r = { messages: 0, lost: 0, reordered: 0, mismatches: 0, errors: 0, cpuNs: 0 };
  const cores = [];
  let problem = pub.problem;
  for (const x of results) {
    hist.add(Histogram.fromJSON(x.hist));
    for (const k of Object.keys(r)) r[k] += x[k];
    cores.push(x.cpuWallNs > 0 ? x.cpuNs / x.cpuWallNs : 0);
    problem ??= x.problem;
  }
  const secs = (we - ws) / 1e9;
  const us = (ns) => Math.round(ns) / 1000;
  const report = {
    mode: "broadcast",
    url: o.url,
    publish_url: o.publishUrl,
    anchor: `socket.io ${require("socket.io/package.json").version} + @socket.io/redis-adapter ${require("@socket.io/redis-adapter/package.json").version} + redis ${require("redis/package.json").version}, client socket.io-client ${require("socket.io-client/package.json").version}, node ${process.versions.node}`,
    connections: o.subscribers + 1,
    processes: o.processes,
    size: o.size,
    kind: "binary",
    inflight: o.inflight,
    pace: o.pace === "a" ? "publisher on A" : "last subscriber on B",
    publishers: 1,
    published,
    target_rate: o.rate,
    duration_s: secs,
    messages: r.messages,
    msgs_per_s: r.messages / secs,
    payload_bytes_per_s: (r.messages / secs) * o.size,
    latency: {
      samples: hist.total,
      p50_us: us(hist.quantile(0.5)),
      p99_us: us(hist.quantile(0.99)),
      p999_us: us(hist.quantile(0.999)),
      max_us: us(hist.max),
      mean_us: hist.total ? us(hist.sum / hist.total) : 0,
    },
    schedule_lag:
      o.rate === undefined
        ? undefined
        : { p50_us: us(pub.lag.quantile(0.5)), p99_us: us(pub.lag.quantile(0.99)), max_us: us(pub.lag.max) },
    client_cpu_ns_per_msg: r.messages ? r.cpuNs / r.messages : 0,
    client_cpu_cores: cores.reduce((a, b) => a + b, 0),
    client_cpu_cores_per_process: cores,
    mismatches: r.mismatches,
    lost: r.lost,
    reordered: r.reordered,
    missed_sends: pub.missed,
    errors: r.errors,
  };
  if (problem) report.first_problem = problem;
  if (o.json) require("node:fs").writeFileSync(o.json, JSON.stringify(report, null, 2) + "\n");

  const f = (x) => Math.round(x).toLocaleString("en-US");
  const loop =
    (o.rate !== undefined ? `open loop ${f(o.rate)}/s` : `closed loop ${o.inflight} in flight`) +
    (o.inflight !== undefined ? ` (paced by ${report.pace})` : "");
  console.log(
    `socket.io broadcast A->B: ${o.subscribers} subscribers, ${o.size} B, ${loop}, ${secs.toFixed(1)} s: ` +
      `${f(report.msgs_per_s)} deliveries/s, p50 ${f(report.latency.p50_us)} us, p99 ${f(report.latency.p99_us)} us, ` +
      `lost ${r.lost}, reordered ${r.reordered}, published ${published}, ` +
      `client cpu ${report.client_cpu_cores.toFixed(2)} cores`,
  );
  if (r.messages === 0) {
    console.error("client.js: no delivery in the window");
    process.exit(3);
  }
  if (r.lost || r.mismatches || r.reordered || r.errors) {
    console.error(`client.js: verification failed: ${problem ?? "see counters"}`);
    process.exit(3);
  }
  process.exit(0);
}

if (process.env.SIO_ANCHOR_CHILD === "1") {
  child();
} else {
  main().catch((e) => {
    console.error(`client.js: ${e.message}`);
    process.exit(1);
  });
}
