/* Change lists and the lock console: badges (or the console's table) kept live. */

import { Live, getJSON } from "./transport.js";
import { gettext, interpolate } from "./text.js";
import { flash } from "./values.js";

export class ChangeList {
  constructor(root) {
    const d = root.dataset;
    this.ct = parseInt(d.ct, 10);
    this.statesUrl = d.statesUrl;
    this.console = d.console === "1";
    this.interval = Math.max(1, parseInt(d.interval, 10) || 15) * 1000;
    this.userId = parseInt(d.userId, 10);
    this.timer = null;
    this.resyncTimer = null;
    this.inflight = new Set();  // catch-ups under way
    this.resyncing = null;  // settles once every catch-up under way has used its reply
    this.events = 0;  // live lock events seen so far
    this.touched = new Map();  // pk -> the count when a live event last set its badge
    this.tables = 0;  // console reloads started
    this.live = d.wsUrl ? new Live(d.wsUrl, {
      open: () => this.onOpen(),
      message: (m) => this.onMessage(m),
      close: () => this.schedule(1000),
    }) : null;
  }

  pks() {
    return Array.from(document.querySelectorAll("[data-locks-pk]"), (el) => el.dataset.locksPk);
  }

  start() {
    if (this.live) { this.live.connect(); }
    this.schedule(this.interval);
  }

  schedule(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.poll(), delay);
  }

  poll() {
    if (this.live && this.live.connected) { this.schedule(this.interval); return; }
    this.resync();
  }

  /* Fetch the current state once (polling, and after every (re)connection). */
  resync() {
    const run = this.catchUp();
    this.inflight.add(run);
    run.finally(() => this.inflight.delete(run));
    this.resyncing = Promise.allSettled([...this.inflight]);
    return run;
  }

  async catchUp() {
    const before = this.events;
    try {
      if (this.console) {
        await this.reloadTable();
      } else {
        const query = this.pks().map((pk) => `pk=${encodeURIComponent(pk)}`).join("&");
        const reply = await getJSON(`${this.statesUrl}?${query}`);
        this.pks().forEach((pk) => {
          // A live event that came while the request was out may be newer than the reply.
          if ((this.touched.get(pk) || 0) > before) { return; }
          this.badge(pk, reply.locks[pk] || { held: false });
        });
      }
    } catch (e) { /* the next poll tries again */ }
    this.schedule(this.interval);
  }

  /* Many row digests may arrive together: one resync for all of them. */
  resyncSoon() {
    if (this.resyncTimer) { return; }
    this.resyncTimer = setTimeout(() => { this.resyncTimer = null; this.resync(); }, 200);
  }

  async onOpen() {
    const pks = this.pks();
    if (!this.console && !pks.length) { return; }
    const topic = this.console ? { console: true } : { rows: { ct: this.ct, pks } };
    if (await this.live.subscribe(topic)) { this.resync(); }  // catch up once
  }

  onMessage(message) {
    const type = message.type || "";
    if (type === "resync" || type === "digest") { this.resyncSoon(); return; }
    if (this.console) {
      if (type.startsWith("lock.")) { this.reloadTable(); }
      return;
    }
    if (!message.record || message.record.ct !== this.ct) { return; }
    const pk = String(message.record.pk);
    if (type.startsWith("lock.")) {
      this.events += 1;
      this.touched.set(pk, this.events);
      this.badge(pk, message.lock);
    }
    if (type === "record.saved") { this.cells(pk, message.values || {}); }
  }

  badge(pk, lock) {
    const el = document.querySelector(`[data-locks-pk='${CSS.escape(pk)}']`);
    if (!el) { return; }
    if (lock.held) {
      el.className = "locks-badge locks-badge-held";
      el.textContent = `✎ ${lock.holder_id === this.userId ? gettext("You") : lock.holder}`;
      el.title = interpolate(gettext("Being edited by %(holder)s"), { holder: lock.holder });
    } else {
      el.className = "locks-badge";
      el.textContent = "";
      el.title = "";
    }
  }

  cells(pk, values) {
    const badge = document.querySelector(`[data-locks-pk='${CSS.escape(pk)}']`);
    const row = badge && badge.closest("tr");
    if (!row) { return; }
    Object.entries(values).forEach(([name, value]) => {
      const cell = row.querySelector(`.field-${CSS.escape(name)}`);
      if (!cell) { return; }
      const input = cell.querySelector("input, select, textarea");
      if (input) { return; }  // list_editable: never overwrite what the user may be typing
      const target = cell.querySelector("a") || cell;
      if (target.textContent !== value) { target.textContent = value; flash(cell); }
    });
  }

  async reloadTable() {
    const mine = ++this.tables;
    const html = await (await fetch(window.location.href, { credentials: "same-origin" })).text();
    if (mine !== this.tables) { return; }  // a later reload is under way: its table is newer
    const fresh = new DOMParser().parseFromString(html, "text/html").querySelector("#result_list");
    const current = document.querySelector("#result_list");
    if (!fresh || !current) { return; }
    // What the manager has ticked now (not when the request started) stays ticked.
    const checked = Array.from(current.querySelectorAll("input.action-select:checked"), (el) => el.value);
    current.replaceWith(fresh);
    checked.forEach((value) => {
      const box = fresh.querySelector(`input.action-select[value='${CSS.escape(value)}']`);
      if (box) { box.checked = true; }
    });
    const boxes = document.querySelectorAll("tr input.action-select");
    if (window.Actions && boxes.length) { window.Actions(boxes); }  // the admin's own wiring
  }
}
