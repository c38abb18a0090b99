// The REST API as the web app uses it: JSON:API bodies, the bearer token in the Authorization
// header (never a cookie, never the URL), errors as ApiError with the server's stable code.

export const JSONAPI = "application/vnd.api+json";

export class ApiError extends Error {
  constructor(status, body) {
    const first = (body && body.errors && body.errors[0]) || {};
    super(first.detail || first.title || (status === 0 ? "The server cannot be reached." : `HTTP ${status}`));
    this.status = status;
    this.code = first.code || (status === 0 ? "network" : "http_" + status);
    this.detail = first.detail || (status === 0 ? "The server cannot be reached. Check your connection." : null);
    this.meta = first.meta || {};
    this.retryAfter = null;
  }
}

/** A JSON:API resource document: {"data": {"type", "attributes"}}. */
export function doc(type, attributes = {}, id) {
  return { data: id ? { type, id, attributes } : { type, attributes } };
}

export class Api {
  /**
   * @param {object} opts
   * @param {() => (string|null|Promise<string|null>)} opts.token the bearer token to send
   * @param {(err: ApiError) => Promise<boolean>} [opts.onUnauthorized] called on a 401; resolve
   *   true to retry the request once (after refreshing the token)
   * @param {(err: ApiError) => void} [opts.onError] sees every error (e.g. a ban) before it is thrown
   */
  constructor({ token, onUnauthorized, onError } = {}) {
    this.token = token || (() => null);
    this.onUnauthorized = onUnauthorized;
    this.onError = onError;
  }

  async request(method, path, { body, plain = false, auth = true, retried = false } = {}) {
    const headers = { Accept: plain ? "application/json" : JSONAPI };
    if (body !== undefined) headers["Content-Type"] = plain ? "application/json" : JSONAPI;
    const token = auth ? await this.token() : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
      });
    } catch (_) {
      throw this._fail(new ApiError(0, null));
    }
    if (res.status === 204) return null;
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (res.ok) return data;
    const err = new ApiError(res.status, data);
    err.retryAfter = res.headers.get("Retry-After");
    if (res.status === 401 && auth && !retried && this.onUnauthorized && await this.onUnauthorized(err)) {
      return this.request(method, path, { body, plain, auth, retried: true });
    }
    throw this._fail(err);
  }

  _fail(err) {
    if (this.onError) this.onError(err);
    return err;
  }

  get(path) { return this.request("GET", path); }
  post(path, body) { return this.request("POST", path, { body }); }
  patch(path, body) { return this.request("PATCH", path, { body }); }
  put(path, body) { return this.request("PUT", path, { body }); }
  del(path, body) { return this.request("DELETE", path, { body }); }
  /** Plain-JSON routes (staff login, magic links). */
  plain(method, path, body, { auth = false } = {}) { return this.request(method, path, { body, plain: true, auth }); }

  /** Every page of a list (following links.next), at most `max` items. */
  async all(path, max = 500) {
    const out = [];
    let next = path;
    while (next && out.length < max) {
      const page = await this.get(next);
      out.push(...page.data);
      next = page.links && page.links.next;
    }
    return out;
  }
}

/** `?filter[name]=value&...` for a list route. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}
