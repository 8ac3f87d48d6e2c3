/* The change form's controller: feeds server messages and replies into the lock state
 * (lockstate.js), shows the result (banner.js), runs the clicks, keeps input (keeping.js) and
 * owns the timers (heartbeat, polling, the silent "active N s ago").
 */

import { Banner, describe } from "./banner.js";
import { applyInlines, applyValues } from "./values.js";
import { Keeper, setReadOnly } from "./keeping.js";
import * as S from "./lockstate.js";
import { Live, backoff, beacon, getJSON, post } from "./transport.js";
import { gettext, interpolate } from "./text.js";

const now = () => performance.now();

export class ChangeForm {
  constructor(root) {
    const d = root.dataset;
    this.root = root;
    this.data = d;
    // The form that carries the lock's inputs (whatever the admin skin wraps it in).
    const lease = document.querySelector("form input[name=_locks_lease]");
    this.form = lease ? lease.form : document.querySelector("#content-main > form[method=post]:not(.locks-inline-form)");
    this.record = { ct: parseInt(d.ct, 10), pk: d.pk };
    this.lease = d.lease;
    this.interval = Math.max(1, parseInt(d.interval, 10) || 15) * 1000;
    this.timeout = Math.max(1, parseInt(d.timeout, 10) || 45) * 1000;
    this.version = parseInt(d.version, 10) || null;
    this.loadedVersion = this.version;  // what the form's inputs (and its version guard) show
    this.keeper = new Keeper(this.form, `locks:unsaved:${d.recordKey}`);
    this.active = false;
    this.unsaved = false;
    this.announced = null;  // advisory: the editing/unsaved flags the socket last sent
    this.submitting = false;
    this.failures = 0;
    this.lastReply = now();
    this.timer = null;
    let lock = { held: false };
    try { lock = JSON.parse(document.getElementById("locks-lock").textContent); } catch (e) { /* none */ }
    this.state = S.initial({
      advisory: d.advisory === "1",
      canEdit: d.canEdit === "1",
      heldInOtherTab: d.otherTab === "1",
      lock,
      userId: parseInt(d.userId, 10),
      fence: parseInt(d.fence, 10) || 0,
      manager: d.manager === "1",
      now: now(),
    });
    this.banner = new Banner(root, document.getElementById("locks-notice"), d, this.act.bind(this));
    this.live = d.wsUrl ? new Live(d.wsUrl, {
      open: () => this.onOpen(),
      message: (m) => this.onMessage(m),
      close: () => this.onClose(),
      ended: () => this.dispatch({ kind: "ended" }),
    }) : null;
    this.link = "";  // what the connection is doing, in words ("" when live)
  }

  /* The only way the state changes; everything shown follows from it. */
  dispatch(input, { focus = false } = {}) {
    const before = this.state;
    this.state = S.next(before, { at: now(), ...input });
    const after = this.state;
    // Advisory mode never takes the form away: the lock only says who else is editing.
    if (S.holding(before) && !S.holding(after) && !after.advisory) { this.lose(); }
    const wasWaiting = before.name === S.VIEWING_FREE && before.armed;
    if (after.name === S.VIEWING_FREE && after.armed && !wasWaiting) { this.take(); }
    if (after.name !== before.name) { this.announce(); }
    this.render();
    if (focus) { this.banner.focusFirst(); }
  }

  render() {
    const view = describe(this.state, now());
    if (this.link && !view.note) { view.note = this.link; }
    else if (this.link && view.alert) { view.note = `${view.note} ${this.link}`; }
    this.banner.render(view);
  }

  start() {
    if (this.state.name === S.EDITING) {
      ["keydown", "input", "mousedown", "touchstart", "paste"].forEach((type) => {
        document.addEventListener(type, () => { this.active = true; }, true);
      });
      if (this.form) {
        this.form.addEventListener("submit", () => { this.submitting = true; this.keeper.forget(); });
        const changed = () => { this.keeper.keep(); this.flagUnsaved(); this.announce(); };
        this.form.addEventListener("input", changed);
        this.form.addEventListener("change", changed);
      }
      this.linkDelete();
      this.offerRestore();
    } else if (this.state.advisory && this.form) {
      this.form.addEventListener("submit", () => { this.submitting = true; });
      this.form.addEventListener("input", () => this.announce());
      this.form.addEventListener("change", () => this.announce());
    }
    this.render();
    this.schedule(this.interval);
    if (this.live) { this.live.connect(); }
    setInterval(() => this.render(), 1000);  // "active N s ago" (not a live region)
    window.addEventListener("beforeunload", () => this.markReload());
    window.addEventListener("pagehide", () => this.leave());
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) { window.location.reload(); }  // back from bfcache: lease was released
    });
  }

  /* ---------------------------------------------------------------- talking to the server */

  schedule(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), delay);
  }

  /* Heartbeat (holder) or state poll (viewer without a live connection), every interval. */
  async tick() {
    const live = this.live && this.live.connected;
    const holding = S.holding(this.state) || (this.state.before && S.holding(this.state.before));
    if (!holding && live) { this.schedule(this.interval); return; }  // events tell us
    const wasActive = this.active;
    this.active = false;
    try {
      if (holding) {
        const reply = await this.heartbeat(wasActive, live);
        this.dispatch({ kind: "heartbeat", ok: reply.ok, lock: reply.lock });
        if (reply.values && reply.version) { this.values(reply); }
      } else {
        const reply = await getJSON(`${this.data.stateUrl}?lease=${encodeURIComponent(this.lease || "")}&version=${encodeURIComponent(this.version || "")}`);
        this.applyState(reply);
      }
      this.failures = 0;
      this.lastReply = now();
      // The server answered: say only what is still true of the connection.
      this.link = !this.live || this.live.connected ? "" : this.pausedText();
      this.render();
      this.schedule(this.interval);
    } catch (e) {
      // One lost request never costs the lock: retry sooner, with backoff and jitter. A
      // socket that stopped answering is dropped, so the next try goes over HTTP.
      if (live) { this.live.drop(); }
      this.active = this.active || wasActive;
      this.failures += 1;
      const silent = now() - this.lastReply;
      if (holding && silent > this.timeout) {
        this.keeper.keep();
        this.dispatch({ kind: "offline", seconds: silent / 1000 });
      } else if (this.state.name !== S.SESSION_ENDED) {
        this.link = gettext("Cannot reach the server. Retrying…");
        this.render();
      }
      this.schedule(Math.min(this.interval, backoff(this.failures, this.interval)));
    }
  }

  async heartbeat(active, live) {
    const unsaved = this.keeper.dirty();
    this.unsaved = unsaved;
    if (live) {
      const reply = await this.live.ask({ type: "heartbeat", record: this.record, lease: this.lease, active, unsaved });
      if (!reply || reply.type === "error") { throw new Error("no reply"); }
      return reply;
    }
    return post(this.data.heartbeatUrl, { lease: this.lease, active: active ? "1" : "0", unsaved: unsaved ? "1" : "0" });
  }

  /* Advisory mode: every page on the record names this one as editing, with its unsaved
     changes (the lock names only its holder). One `presence` message when that flips, never
     one per keystroke; again on every new socket. */
  announce() {
    if (!this.state.advisory || !this.live || !this.live.subscribed) { return; }
    const editing = this.state.name !== S.DELETED && this.state.name !== S.SESSION_ENDED;
    const unsaved = editing && this.keeper.dirty();
    const said = `${editing}/${unsaved}`;
    if (said === this.announced) { return; }
    this.announced = said;
    this.live.ask({ type: "presence", record: this.record, editing, unsaved });
  }

  /* The unsaved flag travels with heartbeats; one extra heartbeat only when it flips. */
  flagUnsaved() {
    if (this.state.name !== S.EDITING || this.keeper.dirty() === this.unsaved) { return; }
    this.schedule(0);
  }

  onOpen() {
    this.link = "";
    this.render();
    // Subscribe and catch up on anything missed while disconnected, in one request.
    const sync = { version: this.version, lease: this.lease };
    this.live.subscribe({ record: this.record, presence: true, sync }).then((reply) => {
      if (!reply) { return; }
      this.announced = null;  // a new socket: nobody has heard from this page on it yet
      this.announce();
      if (reply.state && reply.state.type === "state") { this.applyState(reply.state); } else { this.resync(); }
    });
  }

  onClose() {
    // Who else edits is known only while the socket is open: the lock's holder is all the
    // page knows now.
    this.dispatch({ kind: "presence", editors: [] });
    if (this.state.name !== S.SESSION_ENDED) {
      this.link = this.pausedText();
      this.render();
    }
    this.schedule(1000);
  }

  pausedText() {
    return interpolate(gettext("Live updates paused; checking every %(s)s s."), { s: this.interval / 1000 });
  }

  async resync() {
    const reply = await this.live.ask({ type: "sync", record: this.record, version: this.version, lease: this.lease });
    if (reply && reply.type === "state") { this.applyState(reply); }
  }

  /* A digest says where the record stands; a page that saw less missed an event. */
  behind(digest) {
    const lock = this.state.lock;
    const holder = lock.held ? lock.holder_id : null;
    return lock.fence !== digest.fence || holder !== digest.holder_id ||
      (digest.version !== null && digest.version !== undefined && digest.version !== this.version);
  }

  onMessage(message) {
    const type = message.type || "";
    if (type === "presence") { this.presence(message); return; }
    if (type === "resync") { this.resync(); return; }  // the server's layer came back
    const record = message.record;
    if (!record || String(record.pk) !== String(this.record.pk) || record.ct !== this.record.ct) { return; }
    if (type === "digest") {
      if (this.behind(message)) { this.resync(); }
    } else if (type.startsWith("lock.")) {
      this.dispatch({ kind: "lock", event: type, lock: message.lock, actor: message.actor, actorId: message.actor_id, reason: message.reason });
    } else if (type === "record.saved") {
      this.values(message);
    } else if (type === "record.deleted") {
      this.dispatch({ kind: "deleted" });
    }
  }

  /* A state poll or a sync reply. */
  applyState(reply) {
    if (S.holding(this.state) && reply.ok === false) {
      this.dispatch({ kind: "heartbeat", ok: false, lock: reply.lock });
      return;
    }
    if (reply.version) { this.values(reply); }
    if (reply.lock) {
      if (S.holding(this.state) && reply.can_edit) {
        this.dispatch({ kind: "heartbeat", ok: true, lock: reply.lock });
      } else {
        this.dispatch({ kind: "lock", event: "state", lock: reply.lock });
      }
    }
  }

  values(message) {
    if (message.version) { this.version = message.version; }
    const inputs = applyValues(message.values || {});
    if (message.inlines) { applyInlines(message.inlines); }
    if (this.state.advisory) {
      // The form stays as typed (and based on the version it loaded): its save will show the
      // merge screen, and the page says so. Not for this tab's own save, on its way out.
      const newer = message.version && this.loadedVersion && message.version > this.loadedVersion;
      if (newer && !this.submitting && !this.state.saved) { this.dispatch({ kind: "saved" }); }
    } else if (inputs && this.state.kept) {
      this.dispatch({ kind: "note", message: gettext("Someone else saved this record. When you save, you will choose, field by field, what to keep.") });
    }
  }

  presence(message) {
    const me = this.state.me;
    const viewers = message.viewers || [];
    // Those who edit (advisory mode) are named by the banner; the rest are "also viewing".
    const editors = viewers.filter((v) => v.editing && v.id !== me);
    this.dispatch({ kind: "presence", editors: editors.map(({ id, name, unsaved }) => ({ id, name, unsaved: Boolean(unsaved) })) });
    const names = viewers.filter((v) => v.id !== me && !v.editing).map((v) => v.name);
    const el = this.root.querySelector(".locks-presence");
    const mine = viewers.some((v) => v.id === me) ? 1 : 0;
    const others = message.count - mine - editors.length;  // not counting me or the editors
    let text = "";
    if (names.length) {
      text = interpolate(gettext("Also viewing: %(names)s"), { names: names.join(", ") });
      if (others > names.length) { text += " " + interpolate(gettext("and %(n)s more"), { n: others - names.length }); }
    }
    el.textContent = text;  // its line is reserved: nothing moves when it fills
  }

  /* ---------------------------------------------------------------- clicks */

  async act(action, fields, button) {
    const run = {
      stop: () => this.release("stopped"),
      "hand-over": () => this.release("handed_over"),
      "save-hand-over": () => this.saveAndHandOver(),
      decline: () => this.decline(fields.reason || ""),
      ask: () => this.ask(),
      arm: () => this.dispatch({ kind: "arm", on: true }, { focus: true }),
      disarm: () => this.dispatch({ kind: "arm", on: false }, { focus: true }),
      edit: () => this.take(),
      "edit-here": () => this.takeOver(""),
      "take-over": () => this.takeOver(fields.reason || ""),
    }[action];
    if (!run) { return; }
    if (button) { button.disabled = true; }
    try {
      await run();
    } catch (e) {
      this.dispatch({ kind: "note", message: gettext("Cannot reach the server. Try again.") }, { focus: true });
    } finally {
      if (button && button.isConnected) { button.disabled = false; }
    }
  }

  refusal(reply, fallback) {
    this.dispatch({ kind: "refused", status: reply.status, message: reply.error || reply.message || fallback }, { focus: true });
  }

  async release(how) {
    this.keeper.keep();
    const reply = await post(this.data.releaseUrl, { lease: this.lease });
    if (reply.ok) {
      this.dispatch({ kind: "released", how }, { focus: true });
    } else {
      this.refusal(reply, gettext("You no longer hold the lock."));
      this.tick();
    }
  }

  saveAndHandOver() {
    const save = this.form && this.form.querySelector("input[name=_save], button[name=_save]");
    if (!save) { return; }
    this.submitting = true;
    this.form.requestSubmit(save);  // saving releases the lock; the asker's page takes it
  }

  async decline(reason) {
    if (!this.data.declineUrl) { return; }
    const reply = await post(this.data.declineUrl, { lease: this.lease, reason });
    if (reply.ok) {
      const lock = { ...this.state.lock, handover_requested_by: null, handover_requested_by_id: null };
      this.dispatch({ kind: "heartbeat", ok: true, lock }, { focus: true });
      this.dispatch({ kind: "note", message: gettext("You declined the request; you are still editing.") });
    } else {
      this.refusal(reply, gettext("Nobody is asking to edit this record now."));
    }
  }

  async ask() {
    const reply = await post(this.data.requestUrl, {});
    if (reply.ok) {
      this.dispatch({ kind: "asked", ok: true, message: gettext("Your request was sent.") }, { focus: true });
    } else if (reply.status === 403) {
      this.refusal(reply, gettext("You may not edit this record."));
    } else {
      // Asked too often, or nobody holds it: the server says which.
      this.dispatch({ kind: "asked", ok: false, message: reply.message || gettext("Nobody else is editing this record now.") }, { focus: true });
    }
  }

  /* "Edit now" / "Edit again" / "Edit when free": take the record if free; the reload then
     renders the form editable (and offers the kept input back). */
  async take() {
    const reply = await post(this.data.takeOverUrl, { if_free: "1" });
    if (reply.ok) { window.location.reload(); return; }
    this.refusal(reply, gettext("Someone else took the lock first."));
  }

  async takeOver(reason) {
    this.keeper.keep();
    const reply = await post(this.data.takeOverUrl, { reason });
    if (reply.ok) { window.location.reload(); return; }
    this.refusal(reply, gettext("Someone else took the lock first. Try again."));
  }

  /* Leaving the holder's state: keep the input, make the form read-only. */
  lose() {
    this.keeper.keep();
    const focusWasInForm = this.form && this.form.contains(document.activeElement);
    if (this.form) { setReadOnly(this.form, true); }
    if (focusWasInForm || document.activeElement === document.body) {
      queueMicrotask(() => this.banner.focusFirst());
    }
  }

  offerRestore() {
    const saved = this.keeper.saved();
    if (!saved || !saved.fields || !this.form) { return; }
    if (this.data.refused === "1") { this.keeper.forget(); return; }  // the server showed them
    const box = this.root.querySelector(".locks-restore");
    box.hidden = false;
    box.querySelector("button").addEventListener("click", () => {
      const { filled, conflicts } = this.keeper.restore(saved);
      box.hidden = true;
      this.keeper.keep();
      this.flagUnsaved();
      let message = interpolate(gettext("Your unsaved changes are back (%(n)s fields). Save to keep them."), { n: filled.length });
      if (conflicts.length) {
        message += " " + gettext("Someone else also changed some of them: when you save, you will choose what to keep.");
      }
      this.dispatch({ kind: "note", message }, { focus: false });
      const first = filled.length && this.form.querySelector(`[name='${CSS.escape(filled[0])}']`);
      if (first && first.focus) { first.focus(); }
    });
  }

  linkDelete() {
    const link = document.querySelector(".submit-row a.deletelink");
    if (!link) { return; }
    const url = new URL(link.href, window.location.href);
    url.searchParams.set("_locks_lease", this.lease);
    link.href = url.toString();
    link.addEventListener("click", () => { this.submitting = true; });
  }

  /* Unloading. beforeunload runs before the next request goes out: a short-lived cookie
     lets a reload of this tab take its lease back (the server rotates the token). pagehide
     runs after: the goodbye releases the lock unless that reload already took it over. */
  markReload() {
    if (!S.holding(this.state) || this.submitting) { return; }
    document.cookie = `locks_reclaim_${this.data.recordKey}=${encodeURIComponent(this.lease)}; max-age=10; path=/; samesite=strict${window.location.protocol === "https:" ? "; secure" : ""}`;
  }

  leave() {
    if (S.holding(this.state) && !this.submitting) { beacon(this.data.releaseUrl, { lease: this.lease }); }
  }
}
