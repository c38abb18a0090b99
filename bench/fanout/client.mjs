// Load client for bench/fanout/run.py: opens N WebSocket subscribers spread round-robin over the
// given URLs, then records the delivery latency of every frame carrying a `sent=<unix seconds>`
// marker (the publisher's send time). Driven by run.py over stdin/stdout, one command per line:
//   start              -> forget what was recorded so far
//   report T0 T1       -> one JSON line: deliveries, deliveries received in [T0, T1] (unix ms),
//                         latency p50/p99/max of everything recorded since `start`
//   quit               -> close every socket and exit
// Not part of the test suite. Exits by itself after --lifetime seconds, or when stdin closes.
import WebSocket from 'ws';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

const cfg = JSON.parse(process.argv[2]);
// cfg: {urls: [...], n, protocols: [[...], ...]|null (round-robin per socket), subscribe: {...}|[{...}, ...]|null
// (an array: round-robin per socket too), concurrency, deflate, lifetime, per_socket}. With per_socket, `report`
// also gives each socket's count of recorded frames (by socket index, in the order they were opened) and how
// many frames came with a seq not above the socket's previous one on that channel (duplicates, reordering).
const now = () => performance.timeOrigin + performance.now(); // unix ms, sub-ms resolution
const MARK = Buffer.from('sent=');

let lat = new Float64Array(1 << 20);
let nLat = 0;
let recvTimes = new Float64Array(1 << 20);
let owner = new Int32Array(1 << 20); // which socket received it (p99 of the sockets kept)
let closedAbnormal = 0;
const counts = cfg.per_socket ? new Int32Array(cfg.n) : null;
const lastSeq = cfg.per_socket ? new Float64Array(cfg.n) : null;
let disorder = 0;
const SEQ = Buffer.from('"seq":');
const closeCodes = {};
const sockets = [];

function record(buf, idx) {
  const i = buf.indexOf(MARK);
  if (i < 0) return;
  const sent = parseFloat(buf.toString('latin1', i + 5, i + 25)) * 1000;
  const t = now();
  if (nLat === lat.length) {
    const a = new Float64Array(lat.length * 2); a.set(lat); lat = a;
    const b = new Float64Array(recvTimes.length * 2); b.set(recvTimes); recvTimes = b;
    const o = new Int32Array(owner.length * 2); o.set(owner); owner = o;
  }
  lat[nLat] = t - sent;
  recvTimes[nLat] = t;
  owner[nLat] = idx;
  nLat++;
  if (counts) {
    counts[idx]++;
    const j = buf.indexOf(SEQ);
    if (j >= 0) {
      const seq = parseInt(buf.toString('latin1', j + 6, j + 26), 10);
      if (seq <= lastSeq[idx]) disorder++;
      lastSeq[idx] = seq;
    }
  }
}

let nextIdx = 0;
function open(url, protocols, subscribe) {
  const idx = nextIdx++;
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: !!cfg.deflate, handshakeTimeout: 30000 });
    ws._idx = idx;
    let ready = false;
    const done = (ok) => { if (!ready) { ready = true; resolve(ok ? ws : null); } };
    ws.on('open', () => { if (subscribe) ws.send(JSON.stringify(subscribe)); });
    ws.on('message', (data) => {
      if (!ready) {
        const s = data.toString();
        if (s.includes('"subscribed"')) done(true);
        else if (s.includes('"error"')) { console.error('refused: ' + s); done(false); }
        return;
      }
      record(data, idx);
    });
    ws.on('close', (code) => {
      closeCodes[code] = (closeCodes[code] || 0) + 1;
      if (code !== 1000 && code !== 1005) closedAbnormal++;
      done(false);
    });
    ws.on('error', (e) => { console.error('socket error: ' + e.message); done(false); });
  });
}

async function openAll() {
  let next = 0, failed = 0;
  async function worker() {
    while (next < cfg.n) {
      const i = next++;
      const sub = Array.isArray(cfg.subscribe) ? cfg.subscribe[i % cfg.subscribe.length] : cfg.subscribe;
      const ws = await open(cfg.urls[i % cfg.urls.length], cfg.protocols ? cfg.protocols[i % cfg.protocols.length] : undefined, sub);
      if (ws) sockets.push(ws); else failed++;
    }
  }
  await Promise.all(Array.from({ length: Math.min(cfg.concurrency || 20, cfg.n) }, worker));
  return failed;
}

function quantile(sorted, q) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
}

function report(t0, t1) {
  const l = lat.slice(0, nLat).sort();
  let inWindow = 0;
  for (let i = 0; i < nLat; i++) if (recvTimes[i] >= t0 && recvTimes[i] <= t1) inWindow++;
  const kept = new Set(sockets.filter((s) => s.readyState === WebSocket.OPEN).map((s) => s._idx));
  const k = [];
  for (let i = 0; i < nLat; i++) if (kept.has(owner[i])) k.push(lat[i]);
  k.sort((x, y) => x - y);
  return {
    deliveries: nLat, in_window: inWindow, p99_kept: quantile(k, 0.99),
    p50: quantile(l, 0.5), p99: quantile(l, 0.99), max: nLat ? l[nLat - 1] : null,
    open: sockets.filter((s) => s.readyState === WebSocket.OPEN).length,
    closed_abnormal: closedAbnormal, close_codes: closeCodes,
    ...(counts ? { counts: Array.from(counts), disorder } : {}),
  };
}

function quit(code) {
  for (const ws of sockets) { try { ws.terminate(); } catch { /* gone */ } }
  process.exit(code);
}

setTimeout(() => { console.error('client lifetime over'); quit(3); }, (cfg.lifetime || 900) * 1000).unref();

const failed = await openAll();
process.stdout.write(JSON.stringify({ ready: sockets.length, failed }) + '\n');

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, a, b] = line.trim().split(/\s+/);
  if (cmd === 'start') {
    nLat = 0; closedAbnormal = 0; disorder = 0; if (counts) counts.fill(0);
    for (const k in closeCodes) delete closeCodes[k];
  }
  else if (cmd === 'report') process.stdout.write(JSON.stringify(report(+a, +b)) + '\n');
  else if (cmd === 'quit') quit(0);
});
rl.on('close', () => quit(0));
