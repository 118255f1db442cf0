// Bun anchor for the imphnen comparison (benches/compare.sh).
//
// Owns the three workloads that imphnen's `examples/bench_server.rs` mirrors exactly:
//   GET  /           -> 200 "Hello, World!" (text/plain)
//   WS   /echo       -> every message is sent back with its own type (text stays text)
//   WS   /broadcast  -> every connection is subscribed to one topic; every message a
//                       connection sends is published with server.publish() to all
//                       subscribers, the sender included (publishers need no role flag)
// Limits match imphnen's: 16 MiB max payload, 64 KiB backpressure, 120 s idle timeout.
// COMPRESSION=shared turns on perMessageDeflate (Bun's shared compressor and decompressor, as
// imphnen's COMPRESSION=shared; =dedicated gives each connection its own, for
// benches/deflate_memory.py) and asks for every send and publish to be compressed, as imphnen
// compresses every message of 1 KiB or more (the compression workloads send 2 and 16 KiB).
// Otherwise no compression. Listens on 127.0.0.1:$PORT (default 3000).

const port = Number(process.env.PORT ?? 3000);
const topic = "bench";
const mode = process.env.COMPRESSION ?? "off";
const compress = mode === "shared" || mode === "dedicated";
// Bun's compressor names: "shared", or "dedicated" (a 32 KiB window per connection).
const perMessageDeflate = compress ? { compress: mode, decompress: mode } : false;

// TLS_CERT and TLS_KEY (PEM files, both or neither) serve wss:// and https://, as imphnen's
// bench_server does with the same variables and the same certificate.
const tls =
  process.env.TLS_CERT && process.env.TLS_KEY
    ? { cert: Bun.file(process.env.TLS_CERT), key: Bun.file(process.env.TLS_KEY) }
    : undefined;

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  tls,
  fetch(req, srv) {
    const path = new URL(req.url).pathname;
    if (path === "/echo" || path === "/broadcast") {
      if (srv.upgrade(req, { data: { broadcast: path === "/broadcast" } })) {
        return undefined;
      }
      return new Response("Upgrade failed", { status: 400 });
    }
    if (path === "/") {
      return new Response("Hello, World!", { headers: { "Content-Type": "text/plain" } });
    }
    return new Response("Not Found", { status: 404 });
  },
  websocket: {
    maxPayloadLength: 16 * 1024 * 1024,
    backpressureLimit: 64 * 1024,
    closeOnBackpressureLimit: false,
    idleTimeout: 120,
    perMessageDeflate,
    publishToSelf: true,
    open(ws) {
      if (ws.data.broadcast) ws.subscribe(topic);
    },
    message(ws, message) {
      if (ws.data.broadcast) {
        server.publish(topic, message, compress);
      } else {
        ws.send(message, compress);
      }
    },
  },
});

console.log(`bun anchor listening on 127.0.0.1:${server.port}${tls ? " (TLS)" : ""}`);
