// The Node.js row of bench/fanout/run.py (--node): the `ws` library's server behind Node's own HTTP
// server, fed by one Redis pub/sub subscriber per process (node-redis) — the same job as
// baseline_app.py's bare Litestar stack: every socket is accepted (no auth), told
// {"type":"subscribed"}, and sent each message of the channel, decoded once, as a text frame. No seq,
// no history, no queue, no access checks. Started and stopped by run.py, two processes like the others.
//
//   node bench/fanout/node_server.mjs --port 8103     # BENCH_REDIS_URL, BENCH_CHANNEL from the env
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { createClient } from 'redis';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
const sockets = new Set();

const server = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); });
// permessage-deflate accepted when a client offers it, as uvicorn does (run.py --deflate)
const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: true });
wss.on('connection', (ws) => {
  ws.send('{"type":"subscribed"}');
  sockets.add(ws);
  ws.on('close', () => sockets.delete(ws));
  ws.on('error', () => sockets.delete(ws));
});

const subscriber = createClient({ url: process.env.BENCH_REDIS_URL });
subscriber.on('error', (err) => console.error('redis', err.message));
await subscriber.connect();
await subscriber.subscribe(process.env.BENCH_CHANNEL, (text) => { // a string, decoded once
  for (const ws of sockets) if (ws.readyState === 1) ws.send(text);
});

server.listen(port, '127.0.0.1');
const stop = () => { subscriber.quit().catch(() => {}); server.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
