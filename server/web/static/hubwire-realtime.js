// Hubwire realtime client: one ES module, no dependencies. Documented in docs/realtime.md
// ("JavaScript client"). Speaks the gateway's protocol (hubwire.v1):
//
// - connects with the token in the WebSocket subprotocol list (never in the URL);
// - subscribes to channels, and on every reconnect resubscribes each one with the last `seq` and
//   `epoch` it saw, so missed events arrive once, in order (duplicates are dropped by seq), or the
//   channel's `onReset` is called (`recovered: false`: refetch over REST);
// - reconnects with exponential backoff and full jitter; a heartbeat (`ping`/`pong`) finds dead
//   sockets (a laptop waking up, a network that dropped without a word);
// - falls back to Server-Sent Events (fetch + Last-Event-ID, token in the Authorization header)
//   when WebSockets are blocked or missing.
//
//   import { HubwireRealtime } from "/static/hubwire-realtime.js";
//   const rt = new HubwireRealtime({ url: `/api/v1/hub/${hubId}/ws`, sseUrl: `/api/v1/hub/${hubId}/events`,
//                                    token: () => memberToken });
//   const sub = rt.subscribe(`space:${spaceId}`, { onEvent(ev) {...}, onReset() {...} });
//   rt.connect();

const SUBPROTOCOL = "hubwire.v1";
// Close codes after which reconnecting cannot help (docs/realtime.md#close-codes).
const FINAL = new Set([4400, 4403, 4404]);
const TOO_MANY = 4029;
const UNAUTHENTICATED = 4401;

function wsUrl(url) {
  if (/^wss?:/.test(url)) return url;
  const u = new URL(url, location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}

export class HubwireRealtime {
  /**
   * @param {object} o
   * @param {string} o.url the WebSocket route (`/api/v1/hub/{hub_id}/ws` or `/api/v1/teams/{team_id}/ws`),
   *   absolute or relative to the page
   * @param {string} [o.sseUrl] the SSE route (`/api/v1/hub/{hub_id}/events`) for the fallback; none for staff
   * @param {string|(() => string|Promise<string>)} o.token the bearer token, or a function giving a fresh one
   * @param {"auto"|"websocket"|"sse"} [o.transport="auto"] "auto" uses SSE only when WebSockets fail
   * @param {number} [o.heartbeatMs=25000] ping interval; [o.heartbeatTimeoutMs=10000] wait for pong;
   *   [o.openTimeoutMs=10000] wait for a WebSocket handshake
   * @param {number} [o.backoffMinMs=500] [o.backoffMaxMs=30000] reconnect delays (full jitter)
   */
  constructor(o) {
    this.url = o.url;
    this.sseUrl = o.sseUrl || null;
    this._token = o.token;
    this.transport = o.transport || "auto";
    this.heartbeatMs = o.heartbeatMs ?? 25000;
    this.heartbeatTimeoutMs = o.heartbeatTimeoutMs ?? 10000;
    this.openTimeoutMs = o.openTimeoutMs ?? 10000;
    this.backoffMinMs = o.backoffMinMs ?? 500;
    this.backoffMaxMs = o.backoffMaxMs ?? 30000;
    this.channels = new Map(); // name -> {handlers: Set, seq, epoch, since, live}
    this.listeners = new Map(); // type -> Set(fn)
    this.state = "idle"; // idle | connecting | open | reconnecting | closed
    this.mode = null; // "websocket" | "sse" once connected
    this._ws = null;
    this._sse = null;
    this._attempt = 0;
    this._wsFailures = 0;
    this._authRetried = false;
    this._timer = null;
    this._beat = null;
    this._pongDue = null;
    this._stopped = false;
    this._sseOnly = false;
    this._sseRestart = null;
    this._wake = () => { if (this.state === "reconnecting") this._reconnectNow(); };
    this._visible = () => { if (document.visibilityState === "visible") this._wake(); };
  }

  // ---- public API -----------------------------------------------------------------------------

  /** Open the connection (idempotent). */
  connect() {
    if (this.state !== "idle" && this.state !== "closed") return this;
    this._stopped = false;
    this._attempt = 0;
    window.addEventListener("online", this._wake);
    document.addEventListener("visibilitychange", this._visible);
    this._open();
    return this;
  }

  /** Close for good (no reconnect). */
  close() {
    this._stopped = true;
    this._setState("closed");
    clearTimeout(this._timer);
    this._stopHeartbeat();
    window.removeEventListener("online", this._wake);
    document.removeEventListener("visibilitychange", this._visible);
    if (this._ws) { const ws = this._ws; this._ws = null; ws.close(1000, "bye"); }
    if (this._sse) { this._sse.abort(); this._sse = null; }
  }

  /**
   * Subscribe to a channel. handlers: onEvent(frame), onSubscribed(frame), onReset(frame) (history
   * could not cover a gap: refetch), onError(frame) (refused), onTyping(frame), onPresence(frame).
   * `since`/`epoch`: start from a known position (e.g. the one a REST read returned).
   * Several subscribers of one channel share one server subscription. Returns {unsubscribe()}.
   */
  subscribe(name, handlers = {}, { since, epoch } = {}) {
    let ch = this.channels.get(name);
    const fresh = !ch;
    if (fresh) {
      ch = { handlers: new Set(), seq: since ?? null, epoch: epoch ?? null, since: null, live: false };
      this.channels.set(name, ch);
    }
    ch.handlers.add(handlers);
    if (fresh) this._sendSubscribe(name, ch);
    else if (ch.live && handlers.onSubscribed) handlers.onSubscribed({ type: "subscribed", channel: name, seq: ch.seq, epoch: ch.epoch });
    return {
      unsubscribe: () => {
        ch.handlers.delete(handlers);
        if (ch.handlers.size === 0 && this.channels.get(name) === ch) {
          this.channels.delete(name);
          if (this.mode === "websocket") this._send({ op: "unsubscribe", channel: name });
          else if (this.mode === "sse") this._restartSse();
        }
      },
    };
  }

  /** The last position seen on a channel: {seq, epoch} (null when not subscribed). */
  position(name) {
    const ch = this.channels.get(name);
    return ch ? { seq: ch.seq, epoch: ch.epoch } : null;
  }

  /** Send a typing signal to a discussion:/conversation: channel (WebSocket only; false otherwise). */
  typing(name) {
    return this.mode === "websocket" && this._send({ op: "typing", channel: name });
  }

  /** Ask for a presence snapshot (answered by a `presence` frame with `online`). */
  presence() {
    return this.mode === "websocket" && this._send({ op: "presence" });
  }

  /** Listen: "state" (the new state), "event", "typing", "presence", "error" (frames), "reset",
   * "closed" ({code, reason, final}). Returns a function that stops listening. */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type).delete(fn);
  }

  // ---- connection -------------------------------------------------------------------------------

  _emit(type, value) {
    for (const fn of this.listeners.get(type) || []) {
      try { fn(value); } catch (err) { console.error(err); }
    }
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit("state", state);
  }

  async _token_() {
    return typeof this._token === "function" ? await this._token() : this._token;
  }

  _useSse() {
    if (!this.sseUrl) return false;
    if (this.transport === "sse" || typeof WebSocket === "undefined") return true;
    // WebSockets failed twice in a row while the server answered HTTP: they are blocked on the
    // way (a proxy, a firewall). Stay on SSE for the rest of this session.
    if (this.transport === "auto" && this._wsFailures >= 2) this._sseOnly = true;
    return Boolean(this._sseOnly);
  }

  /** Whether the server answers plain HTTP (its /health): tells a blocked WebSocket from a server
   * or network that is down, which is no reason to leave WebSockets. */
  async _reachable() {
    try {
      const health = new URL("/health", new URL(this.url, location.href));
      const res = await fetch(health, { cache: "no-store", credentials: "omit" });
      return res.ok;
    } catch (_) {
      return false;
    }
  }

  async _open() {
    if (this._stopped) return;
    this._setState(this._attempt === 0 ? "connecting" : "reconnecting");
    let token;
    try {
      token = await this._token_();
    } catch (_) {
      token = null;
    }
    if (this._stopped) return;
    if (!token) { this._final(UNAUTHENTICATED, "no token"); return; }
    for (const ch of this.channels.values()) ch.live = false;
    if (this._useSse()) this._openSse(token);
    else this._openWs(token);
  }

  _openWs(token) {
    this.mode = "websocket";
    let ws;
    try {
      ws = new WebSocket(wsUrl(this.url), [SUBPROTOCOL, `bearer.${token}`]);
    } catch (_) {
      this._wsFailures += 1;
      this._scheduleReconnect();
      return;
    }
    this._ws = ws;
    let opened = false;
    let closing = null;
    // a handshake held open by something on the way (and never refused) counts as a failure too
    const giveUp = setTimeout(() => {
      if (!opened && this._ws === ws) { ws.onclose({ code: 1006, reason: "open timeout" }); ws.close(); }
    }, this.openTimeoutMs);
    ws.onopen = () => {
      opened = true;
      clearTimeout(giveUp);
      this._wsFailures = 0;
      for (const [name, ch] of this.channels) this._sendSubscribe(name, ch);
      this._startHeartbeat();
    };
    ws.onmessage = (msg) => {
      let frame;
      try { frame = JSON.parse(msg.data); } catch (_) { return; }
      if (frame.type === "closing") closing = frame;
      this._frame(frame);
    };
    ws.onclose = async (e) => {
      clearTimeout(giveUp);
      if (this._ws !== ws) return;
      this._ws = null;
      this._stopHeartbeat();
      const code = closing ? closing.code : e.code;
      if (!opened && await this._reachable()) this._wsFailures += 1;
      this._closed(code, (e && e.reason) || (closing && closing.reason) || "");
    };
  }

  _send(frame) {
    if (!this._ws || this._ws.readyState !== WebSocket.OPEN) return false;
    this._ws.send(JSON.stringify(frame));
    return true;
  }

  _sendSubscribe(name, ch) {
    if (this.mode === "sse") { this._restartSse(); return; }
    const frame = { op: "subscribe", channel: name };
    if (ch.seq !== null && ch.seq !== undefined) {
      frame.since = ch.seq;
      if (ch.epoch) frame.epoch = ch.epoch;
    }
    ch.since = frame.since ?? null;
    this._send(frame);
  }

  _closed(code, reason) {
    if (this._stopped) return;
    if (FINAL.has(code) || (code === UNAUTHENTICATED && this._authRetried)) { this._final(code, reason); return; }
    if (code === UNAUTHENTICATED) this._authRetried = true; // once more, with a token asked afresh
    this._emit("closed", { code, reason, final: false });
    this._scheduleReconnect(code === TOO_MANY ? 5 : 0);
  }

  _final(code, reason) {
    this.close();
    this._emit("closed", { code, reason, final: true });
  }

  _scheduleReconnect(extraSteps = 0) {
    if (this._stopped) return;
    this._setState("reconnecting");
    const step = Math.min(this._attempt + extraSteps, 16);
    const cap = Math.min(this.backoffMaxMs, this.backoffMinMs * 2 ** step);
    const delay = this.backoffMinMs / 2 + Math.random() * (cap - this.backoffMinMs / 2); // jitter
    this._attempt += 1;
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._open(), delay);
  }

  _reconnectNow() {
    clearTimeout(this._timer);
    this._open();
  }

  _healthy() {
    this._attempt = 0;
    this._authRetried = false;
    this._setState("open");
  }

  _startHeartbeat() {
    this._stopHeartbeat();
    this._beat = setInterval(() => {
      if (!this._send({ op: "ping" })) return;
      clearTimeout(this._pongDue);
      this._pongDue = setTimeout(() => {
        // no pong: the connection is dead without having said so
        if (this._ws) { const ws = this._ws; ws.onclose({ code: 4000, reason: "heartbeat" }); ws.close(); }
      }, this.heartbeatTimeoutMs);
    }, this.heartbeatMs);
  }

  _stopHeartbeat() {
    clearInterval(this._beat);
    clearTimeout(this._pongDue);
    this._beat = null;
  }

  // ---- frames ------------------------------------------------------------------------------------

  _frame(frame) {
    const ch = frame.channel ? this.channels.get(frame.channel) : null;
    switch (frame.type) {
      case "subscribed": {
        this._healthy();
        if (!ch) return;
        const resumed = frame.recovered === true; // the server checked the epoch
        if (!resumed) {
          // a fresh subscription, or history could not cover the gap: start from here
          ch.seq = frame.seq;
        }
        ch.epoch = frame.epoch;
        ch.live = true;
        ch.since = null;
        this._each(ch, "onSubscribed", frame);
        if (frame.recovered === false) {
          this._emit("reset", frame);
          this._each(ch, "onReset", frame);
        }
        return;
      }
      case "event": {
        if (!ch) return;
        if (ch.seq !== null && frame.seq <= ch.seq) return; // seen already: never twice
        ch.seq = frame.seq;
        this._emit("event", frame);
        this._each(ch, "onEvent", frame);
        return;
      }
      case "typing":
        this._emit("typing", frame);
        if (ch) this._each(ch, "onTyping", frame);
        return;
      case "presence":
        this._emit("presence", frame);
        if (ch) this._each(ch, "onPresence", frame);
        return;
      case "pong":
        clearTimeout(this._pongDue);
        return;
      case "error":
        if (frame.code === "already_subscribed") return;
        if (ch && frame.code !== "unavailable") {
          this.channels.delete(frame.channel); // refused or revoked: subscribe again to retry
          this._each(ch, "onError", frame);
        } else if (ch) {
          setTimeout(() => { if (this.channels.get(frame.channel) === ch) this._sendSubscribe(frame.channel, ch); }, 1000);
        }
        this._emit("error", frame);
        return;
      default:
    }
  }

  _each(ch, hook, frame) {
    for (const handlers of [...ch.handlers]) {
      if (typeof handlers[hook] === "function") {
        try { handlers[hook](frame); } catch (err) { console.error(err); }
      }
    }
  }

  // ---- Server-Sent Events fallback ---------------------------------------------------------------

  _restartSse() {
    if (this.mode !== "sse" || this._stopped) return;
    clearTimeout(this._sseRestart);
    // channel changes come in bursts (a view opening): one new stream for all of them
    this._sseRestart = setTimeout(() => {
      if (this._sse) { this._sse.abort(); this._sse = null; }
      this._open();
    }, 50);
  }

  async _openSse(token) {
    this.mode = "sse";
    const abort = new AbortController();
    this._sse = abort;
    const names = [...this.channels.keys()];
    if (names.length === 0) { this._setState("open"); return; }
    const positions = [];
    for (const name of names) {
      const ch = this.channels.get(name);
      ch.since = null;
      if (ch.seq !== null && ch.epoch) { positions.push(`${name}:${ch.epoch}:${ch.seq}`); ch.since = ch.seq; }
    }
    const headers = { Accept: "text/event-stream", Authorization: `Bearer ${token}` };
    if (positions.length) headers["Last-Event-ID"] = positions.join(",");
    let res;
    try {
      res = await fetch(`${this.sseUrl}?channels=${encodeURIComponent(names.join(","))}`,
        { headers, signal: abort.signal, cache: "no-store", credentials: "omit" });
    } catch (_) {
      if (this._sse === abort) { this._sse = null; this._scheduleReconnect(); }
      return;
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      if (this._sse === abort) this._closed(res.status === 401 ? UNAUTHENTICATED : res.status === 404 ? 4404 : 4403, "sse");
      return;
    }
    if (!res.ok || !res.body) { if (this._sse === abort) { this._sse = null; this._scheduleReconnect(); } return; }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let type = "message";
    let data = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl).replace(/\r$/, "");
          buffer = buffer.slice(nl + 1);
          if (line === "") {
            if (data.length) {
              try {
                const frame = JSON.parse(data.join("\n"));
                if (type === "error" && frame.code === "banned") { this._final(4403, "banned"); return; }
                this._frame(frame);
              } catch (_) { /* not a frame */ }
            }
            type = "message";
            data = [];
          } else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
          else if (line.startsWith("event:")) type = line.slice(6).trim();
        }
      }
    } catch (_) { /* aborted, or the network went away */ }
    if (this._sse === abort) { this._sse = null; this._emit("closed", { code: 1006, reason: "stream ended", final: false }); this._scheduleReconnect(); }
  }
}
