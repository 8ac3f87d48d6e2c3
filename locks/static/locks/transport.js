/* Transport: HTTP calls (the fallback) and the page's one websocket (docs/protocol.md).
 *
 * The socket reconnects with backoff and jitter: the first try comes 0.5 to 1 s after the
 * close, later ones at most RECONNECT_CAP ms apart, so after a server restart every page is
 * back within a few seconds without all of them arriving at once. An outage longer than
 * LONG_OUTAGE ms slows the tries down to at most LONG_OUTAGE_CAP ms apart.
 */

export const RECONNECT_CAP = 3000;
export const LONG_OUTAGE = 60000;
export const LONG_OUTAGE_CAP = 15000;

export function csrfToken() {
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (input) { return input.value; }
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/* POST form fields, expecting JSON. Resolves with {status, ...body}; rejects when the server
   cannot be reached or fails (5xx). A refusal (4xx with a JSON body) resolves. */
export async function post(url, fields) {
  const body = new URLSearchParams();
  Object.entries(fields).forEach(([k, v]) => body.append(k, v));
  const response = await fetch(url, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json", "X-Requested-With": "fetch" },
  });
  if (response.status >= 500) { throw new Error(`server ${response.status}`); }
  let reply = {};
  try { reply = await response.json(); } catch (e) { reply = { ok: false }; }
  reply.status = response.status;
  return reply;
}

export async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } });
  if (!response.ok) { throw new Error(`server ${response.status}`); }
  return response.json();
}

/* A goodbye that survives the page going away. */
export function beacon(url, fields) {
  const body = new FormData();
  Object.entries(fields).forEach(([k, v]) => body.append(k, v));
  body.append("csrfmiddlewaretoken", csrfToken());
  body.append("beacon", "1");
  if (navigator.sendBeacon) { navigator.sendBeacon(url, body); }
}

/* Exponential backoff with full jitter inside [cap/2, cap]: a restarted server is not hit by
   every page at once, and no page waits longer than `cap`. */
export function backoff(failures, cap) {
  const ceiling = Math.min(cap, 1000 * 2 ** Math.max(0, failures - 1));
  return ceiling * (0.5 + Math.random() / 2);
}

/* The live connection: request/reply by id, events to handlers.message. */
export class Live {
  constructor(url, handlers) {
    this.url = new URL(url, window.location.href);
    if (this.url.protocol === "https:") { this.url.protocol = "wss:"; }
    if (this.url.protocol === "http:") { this.url.protocol = "ws:"; }
    this.handlers = handlers;
    this.socket = null;
    this.connected = false;
    this.subscribed = false;
    this.failures = 0;
    this.since = 0;  // when the current outage began
    this.nextId = 1;
    this.pending = new Map();
  }

  connect() {
    let socket;
    try { socket = new WebSocket(this.url.toString()); } catch (e) { this.retry(); return; }
    this.socket = socket;
    socket.onopen = () => {
      this.connected = true;
      this.failures = 0;
      this.handlers.open();
    };
    socket.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      const waiting = message.id && this.pending.get(message.id);
      if (waiting) { this.pending.delete(message.id); waiting(message); return; }
      this.handlers.message(message);
    };
    socket.onclose = (event) => {
      const was = this.connected;
      // 4401: the session behind this socket ended (logout, expiry, password change).
      if (event && event.code === 4401 && this.handlers.ended) { this.handlers.ended(); }
      this.connected = false;
      this.subscribed = false;
      this.socket = null;
      this.pending.forEach((resolve) => resolve(null));
      this.pending.clear();
      if (was) { this.failures = 0; }
      this.retry();
    };
  }

  retry() {
    this.failures += 1;
    if (this.failures === 1) {
      this.since = Date.now();
      this.handlers.close();  // say so once, discreetly
    }
    const cap = Date.now() - this.since > LONG_OUTAGE ? LONG_OUTAGE_CAP : RECONNECT_CAP;
    setTimeout(() => this.connect(), backoff(this.failures, cap));
  }

  /* Give up on this socket (it answers no more): the page polls and reconnects. */
  drop() {
    if (this.socket) { this.socket.close(); }
  }

  /* Subscribe; resolves with the reply (which may carry the record's `state` when the
     subscription asked to `sync` too), or null: a refused or unanswered subscription counts
     as no live connection. */
  async subscribe(message) {
    const reply = await this.ask({ ...message, type: "subscribe" });
    if (!reply || reply.type !== "subscribed") { this.drop(); return null; }
    this.subscribed = true;
    return reply;
  }

  /* A request with a reply; resolves with null when the socket fails or 5 s pass. */
  ask(message) {
    return new Promise((resolve) => {
      if (!this.connected) { resolve(null); return; }
      const id = this.nextId++;
      const timer = setTimeout(() => { this.pending.delete(id); resolve(null); }, 5000);
      this.pending.set(id, (reply) => { clearTimeout(timer); resolve(reply); });
      this.socket.send(JSON.stringify({ ...message, id }));
    });
  }
}
