#!/usr/bin/env node
// Anchor node for the cross-node pub/sub benchmark: a Socket.IO 4 server whose rooms span
// every node through the classic Redis pub/sub adapter.
//
// Every socket joins room "bench". An "m" event from any socket is re-emitted to the whole
// room, on every node (the sender included), so a publisher on node A reaches the
// subscribers of node B through Redis.
//
// Environment:
//   PORT       port to listen on (default 3000)
//   HOST       address to bind (default 127.0.0.1)
//   REDIS_URL  Redis to share rooms through (default redis://127.0.0.1:6379)
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || "127.0.0.1";
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const ROOM = "bench";

async function main() {
  const pubClient = createClient({ url: REDIS_URL });
  const subClient = pubClient.duplicate();
  for (const [name, c] of [["pub", pubClient], ["sub", subClient]]) {
    c.on("error", (err) => console.error(`redis ${name} client: ${err.message}`));
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);

  const httpServer = http.createServer((_req, res) => {
    res.writeHead(404).end();
  });
  const io = new Server(httpServer, {
    transports: ["websocket"],
    perMessageDeflate: false,
    httpCompression: false,
    serveClient: false,
    adapter: createAdapter(pubClient, subClient),
  });

  io.on("connection", (socket) => {
    socket.join(ROOM);
    socket.on("m", (payload) => {
      io.to(ROOM).emit("m", payload);
    });
  });

  // The adapter sends its SUBSCRIBE/PSUBSCRIBE when the default namespace is created
  // (above, in the Server constructor) without handing back a promise. Redis answers one
  // connection's commands in order, so once a subscription of our own on the same client is
  // confirmed, the adapter's are active too: nothing published after "listening" is missed.
  await subClient.subscribe(`${ROOM}#ready#${process.pid}`, () => {});

  await new Promise((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(PORT, HOST, resolve);
  });
  console.log(`listening ${PORT}`);

  const stop = () => {
    io.close();
    Promise.allSettled([pubClient.quit(), subClient.quit()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
