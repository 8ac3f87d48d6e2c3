/* Edit locks in the browser: heartbeat, release on leave, live updates, unsaved-input keeping.
 *
 * The browser enforces nothing: the server decides who may write, and this script only
 * reflects it. URLs and values come from data-* attributes. Live updates travel over one
 * websocket per page (docs/protocol.md); when it cannot connect, the page polls over HTTP,
 * reconnects with backoff and jitter, and resyncs after reconnecting.
 */
(function () {
  "use strict";

  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\((\w+)\)s/g, function (_, k) { return String(obj[k]); });
  };
  var FREE_EVENTS = ["lock.released", "lock.expired", "lock.idle_released", "lock.force_released"];

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) { return input.value; }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function formBody(fields) {
    var body = new FormData();
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    return body;
  }

  function post(url, fields) {
    var body = new URLSearchParams();
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json", "X-Requested-With": "fetch" }
    }).then(function (response) {
      if (response.status >= 500) { throw new Error("server " + response.status); }
      return response.json();
    });
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("server " + response.status); }
        return response.json();
      });
  }

  function beacon(url, fields) {
    var body = formBody(fields);
    body.append("csrfmiddlewaretoken", csrfToken());
    body.append("beacon", "1");
    if (navigator.sendBeacon) { navigator.sendBeacon(url, body); }
  }

  function backoff(failures, cap) {
    var delay = Math.min(cap, 1000 * Math.pow(2, Math.max(0, failures - 1)));
    return delay * (0.5 + Math.random());  // jitter: a restarted server is not hit all at once
  }

  function flash(el) {
    el.classList.add("locks-changed");
    setTimeout(function () { el.classList.remove("locks-changed"); }, 4000);
  }

  function clock(iso) {
    var d = new Date(iso);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  function ago(iso) {
    var seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    if (seconds < 60) { return interpolate(gettext("%(n)s s"), { n: seconds }, true); }
    return interpolate(gettext("%(n)s min"), { n: Math.round(seconds / 60) }, true);
  }

  /* ------------------------------------------------------------ the live connection */

  function Live(url, handlers) {
    this.url = new URL(url, window.location.href);
    if (this.url.protocol === "https:") { this.url.protocol = "wss:"; }
    if (this.url.protocol === "http:") { this.url.protocol = "ws:"; }
    this.handlers = handlers;
    this.socket = null;
    this.connected = false;
    this.failures = 0;
    this.nextId = 1;
    this.pending = {};
  }

  Live.prototype.connect = function () {
    var self = this;
    var socket;
    try { socket = new WebSocket(this.url.toString()); } catch (e) { this.retry(); return; }
    this.socket = socket;
    socket.onopen = function () {
      self.connected = true;
      self.failures = 0;
      self.handlers.open();
    };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.id && self.pending[message.id]) {
        self.pending[message.id](message);
        delete self.pending[message.id];
        return;
      }
      self.handlers.message(message);
    };
    socket.onclose = function (event) {
      var was = self.connected;
      // 4401: the session behind this socket ended (logout, expiry, password change).
      if (event && event.code === 4401 && self.handlers.ended) { self.handlers.ended(); }
      self.connected = false;
      self.subscribed = false;
      self.socket = null;
      Object.keys(self.pending).forEach(function (id) { self.pending[id](null); });
      self.pending = {};
      self.failures = was ? 0 : self.failures;
      self.retry();
    };
  };

  Live.prototype.retry = function () {
    var self = this;
    this.failures += 1;
    if (this.failures === 1) { this.handlers.close(); }  // say so once, discreetly
    setTimeout(function () { self.connect(); }, backoff(this.failures, 30000));
  };

  /* Give up on this socket (it answers no more): poll, and reconnect with backoff. */
  Live.prototype.drop = function () {
    if (this.socket) { this.socket.close(); }
  };

  /* Subscribe; a refused or unanswered subscription counts as no live connection. */
  Live.prototype.subscribe = function (message) {
    var self = this;
    message.type = "subscribe";
    return this.ask(message).then(function (reply) {
      if (!reply || reply.type !== "subscribed") { self.drop(); return false; }
      self.subscribed = true;
      return true;
    });
  };

  /* A request with a reply; resolves with null when the socket fails or 5 s pass. */
  Live.prototype.ask = function (message) {
    var self = this;
    return new Promise(function (resolve) {
      if (!self.connected) { resolve(null); return; }
      var id = self.nextId++;
      message.id = id;
      var timer = setTimeout(function () { delete self.pending[id]; resolve(null); }, 5000);
      self.pending[id] = function (reply) { clearTimeout(timer); resolve(reply); };
      self.socket.send(JSON.stringify(message));
    });
  };

  /* ------------------------------------------------------------ unsaved input */

  var SKIP = /^(csrfmiddlewaretoken|_locks_|_save|_continue|_addanother|_saveasnew)/;

  function snapshot(form) {
    var fields = [];
    new FormData(form).forEach(function (value, name) {
      if (!SKIP.test(name) && typeof value === "string") { fields.push([name, value]); }
    });
    return fields;
  }

  function fill(form, fields) {
    var byName = {};
    fields.forEach(function (pair) { (byName[pair[0]] = byName[pair[0]] || []).push(pair[1]); });
    Object.keys(byName).forEach(function (name) {
      var values = byName[name];
      Array.prototype.forEach.call(form.querySelectorAll("[name='" + CSS.escape(name) + "']"), function (el) {
        if (el.type === "checkbox" || el.type === "radio") {
          el.checked = values.indexOf(el.value) !== -1;
        } else if (el.tagName === "SELECT" && el.multiple) {
          Array.prototype.forEach.call(el.options, function (o) { o.selected = values.indexOf(o.value) !== -1; });
        } else if (el.type !== "file") {
          el.value = values[0];
        }
        el.dispatchEvent(new Event("change", { bubbles: true }));
      });
    });
  }

  function setReadOnly(form, readOnly) {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.type === "hidden" || el.name === "csrfmiddlewaretoken") { return; }
      if (el.tagName === "SELECT" || el.type === "checkbox" || el.type === "radio" || el.type === "submit" || el.type === "file") {
        el.disabled = readOnly;
      } else if ("readOnly" in el) {
        el.readOnly = readOnly;
      }
    });
    Array.prototype.forEach.call(form.querySelectorAll(".submit-row"), function (row) {
      row.style.display = readOnly ? "none" : "";
    });
  }

  /* ------------------------------------------------------------ the change form */

  function ChangeForm(banner) {
    var d = banner.dataset;
    this.banner = banner;
    this.data = d;
    this.form = document.querySelector("#content-main > form[method=post]:not(.locks-inline-form)");
    this.record = { ct: parseInt(d.ct, 10), pk: d.pk };
    this.lease = d.lease;
    this.fence = parseInt(d.fence, 10) || 0;
    this.userId = parseInt(d.userId, 10);
    this.canEdit = d.canEdit === "1";
    this.interval = Math.max(1, parseInt(d.interval, 10) || 15) * 1000;
    this.storeKey = "locks:unsaved:" + d.recordKey;
    this.version = parseInt(d.version, 10) || null;
    this.active = false;
    this.submitting = false;
    this.failures = 0;
    this.timer = null;
    this.lost = false;
    this.editWhenFree = false;
    this.lock = null;
    this.live = d.wsUrl ? new Live(d.wsUrl, {
      open: this.onOpen.bind(this),
      message: this.onMessage.bind(this),
      close: this.onClose.bind(this),
      ended: this.onEnded.bind(this)
    }) : null;
    this.sessionEnded = false;
  }

  ChangeForm.prototype.start = function () {
    var self = this;
    if (this.canEdit) {
      ["keydown", "input", "mousedown", "touchstart", "paste"].forEach(function (type) {
        document.addEventListener(type, function () { self.active = true; }, true);
      });
      if (this.form) {
        this.form.addEventListener("submit", function () {
          self.submitting = true;
          sessionStorage.removeItem(self.storeKey);
        });
        this.form.addEventListener("input", function () { self.keep(); });
        this.form.addEventListener("change", function () { self.keep(); });
      }
      this.linkDelete();
      this.offerRestore();
    } else if (this.data.viewOnly === "1") {
      this.offerEditWhenFree();
      this.askInPlace();
    }
    this.schedule(this.interval);
    if (this.live) { this.live.connect(); }
    setInterval(function () { self.refreshMessage(); }, 5000);
    window.addEventListener("beforeunload", function () { self.markReload(); });
    window.addEventListener("pagehide", function () { self.leave(); });
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) { window.location.reload(); }  // back from bfcache: lease was released
    });
  };

  ChangeForm.prototype.holding = function () { return this.canEdit && !this.lost; };

  /* Heartbeat (holder) or state poll (viewer without a live connection), every interval. */
  ChangeForm.prototype.schedule = function (delay) {
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.tick(); }, delay);
  };

  ChangeForm.prototype.tick = function () {
    var self = this;
    var live = this.live && this.live.connected;
    if (!this.holding() && live) { this.schedule(this.interval); return; }  // events tell us
    var wasActive = this.active;
    this.active = false;
    var request;
    if (this.holding() && live) {
      request = this.live.ask({ type: "heartbeat", record: this.record, lease: this.lease, active: wasActive })
        .then(function (reply) {
          if (!reply || reply.type === "error") { throw new Error("no reply"); }
          return reply;
        });
    } else if (this.holding()) {
      request = post(this.data.heartbeatUrl, { lease: this.lease, active: wasActive ? "1" : "0" });
    } else {
      request = getJSON(this.data.stateUrl + "?lease=" + encodeURIComponent(this.lease || "") +
        "&version=" + encodeURIComponent(this.version || ""));
    }
    request.then(function (reply) {
      self.failures = 0;
      self.sessionEnded = false;
      if (!self.live || self.live.connected) { self.status(""); }
      self.applyState(reply);
      self.schedule(self.interval);
    }).catch(function () {
      // One lost request never costs the lock: retry sooner, with backoff and jitter. A
      // socket that stopped answering is dropped, so the next try goes over HTTP.
      if (live && self.live) { self.live.drop(); }
      self.active = self.active || wasActive;
      self.failures += 1;
      self.status(self.sessionEnded ? self.endedText() : gettext("Cannot reach the server. Retrying…"));
      self.schedule(Math.min(self.interval, backoff(self.failures, self.interval)));
    });
  };

  ChangeForm.prototype.onOpen = function () {
    var self = this;
    this.status("");
    this.live.subscribe({ record: this.record, presence: true }).then(function (ok) {
      // Resync: anything missed while disconnected (lock changes, a newer version).
      if (ok) { self.resync(); }
    });
  };

  ChangeForm.prototype.resync = function () {
    var self = this;
    this.live.ask({ type: "sync", record: this.record, version: this.version, lease: this.lease })
      .then(function (reply) { if (reply && reply.type === "state") { self.applyState(reply); } });
  };

  /* A digest says where the record stands; a page that saw less missed an event. */
  ChangeForm.prototype.behind = function (digest) {
    var lock = this.lock;
    if (!lock) { return true; }
    var holder = lock.held ? lock.holder_id : null;
    return lock.fence !== digest.fence || holder !== digest.holder_id ||
      (digest.version !== null && digest.version !== this.version);
  };

  /* The session ended: say so; what the user typed stays in this tab (sessionStorage). */
  ChangeForm.prototype.onEnded = function () {
    this.sessionEnded = true;
    this.status(this.endedText());
  };

  ChangeForm.prototype.endedText = function () {
    return gettext("Your session has ended. Log in again in another tab to go on; what you typed stays on this page.");
  };

  ChangeForm.prototype.onClose = function () {
    if (this.sessionEnded) { this.schedule(1000); return; }
    this.status(interpolate(gettext("Live updates paused; checking every %(s)s s."), { s: this.interval / 1000 }, true));
    this.schedule(1000);
  };

  ChangeForm.prototype.onMessage = function (message) {
    var type = message.type || "";
    if (type === "presence") { this.showPresence(message); return; }
    if (type === "resync") { this.resync(); return; }  // the server's layer came back
    if (!message.record || String(message.record.pk) !== String(this.record.pk) || message.record.ct !== this.record.ct) { return; }
    if (type === "digest") {
      if (this.behind(message)) { this.resync(); }
    } else if (type.indexOf("lock.") === 0) {
      this.applyLock(message.lock, type);
    } else if (type === "record.saved") {
      this.applyValues(message.values || {}, message.version);
    } else if (type === "record.deleted") {
      this.banner.className = "locks-banner locks-lost";
      this.message(gettext("This record was deleted."));
      this.actions([]);
    }
  };

  /* A heartbeat reply, a state poll or a sync reply. */
  ChangeForm.prototype.applyState = function (reply) {
    if (this.holding() && reply.ok === false) { this.loseLock(reply.lock); return; }
    if (reply.values && reply.version) { this.applyValues(reply.values, reply.version); }
    if (reply.lock) { this.applyLock(reply.lock, reply.can_edit ? "self" : "state"); }
  };

  ChangeForm.prototype.applyLock = function (lock, why) {
    this.lock = lock;
    if (this.holding()) {
      var mine = lock.held && lock.holder_id === this.userId && lock.fence === this.fence;
      if (!mine && why !== "self") { this.loseLock(lock); return; }
      this.showHandover(lock.handover_requested_by);
      return;
    }
    if (lock.held) {
      this.banner.className = "locks-banner " + (this.lost ? "locks-lost" : "locks-readonly");
      this.refreshMessage();
      return;
    }
    if (FREE_EVENTS.indexOf(why) !== -1 || why === "state") { this.becameFree(); }
  };

  ChangeForm.prototype.becameFree = function () {
    var self = this;
    if (this.editWhenFree) { this.takeLock(); return; }
    this.banner.className = "locks-banner locks-free-now";
    this.message(this.lost
      ? gettext("The record is free now. Edit again to restore your unsaved changes.")
      : gettext("The record is free now."));
    this.actions([[this.lost ? gettext("Edit again") : gettext("Edit now"), function () { self.takeLock(); }]]);
  };

  ChangeForm.prototype.takeLock = function () {
    var self = this;
    // Acquires if free (the server decides who wins); the reload then renders the form editable.
    post(this.data.takeOverUrl, { if_free: "1" }).then(function (reply) {
      if (reply.ok) { window.location.reload(); } else { self.editWhenFree = false; }
    }).catch(function () { window.location.reload(); });
  };

  ChangeForm.prototype.refreshMessage = function () {
    var lock = this.lock;
    if (!lock || !lock.held || this.holding()) { return; }
    var text;
    if (lock.holder_id === this.userId) {
      text = gettext("You are editing this in another tab.");
    } else {
      text = interpolate(gettext("%(holder)s is editing since %(since)s (active %(ago)s ago)."),
        { holder: lock.holder, since: clock(lock.since), ago: ago(lock.last_active) }, true);
    }
    if (this.lost) {
      text = interpolate(gettext("You no longer hold the lock: %(why)s Your unsaved changes are kept in this tab."), { why: text }, true);
    }
    this.message(text);
  };

  ChangeForm.prototype.applyValues = function (values, version) {
    if (version) { this.version = version; }
    var changedInputs = [];
    Object.keys(values).forEach(function (name) {
      var row = document.querySelector(".form-row.field-" + CSS.escape(name) + " .readonly, .fieldBox.field-" + CSS.escape(name) + " .readonly");
      if (row) {
        if (row.textContent !== values[name]) { row.textContent = values[name] || "-"; flash(row); }
      } else if (document.querySelector("#id_" + CSS.escape(name))) {
        changedInputs.push(name);  // never overwrite what this user typed
      }
    });
    if (changedInputs.length && this.lost) {
      this.status(gettext("Someone else saved this record. When you save, you will choose, field by field, what to keep."));
    }
  };

  ChangeForm.prototype.message = function (text) {
    this.banner.querySelector(".locks-message").textContent = text;
  };

  ChangeForm.prototype.status = function (text) {
    var el = this.banner.querySelector(".locks-status");
    el.textContent = text;
    el.hidden = !text;
  };

  ChangeForm.prototype.showPresence = function (message) {
    var me = this.userId;
    var viewers = message.viewers || [];
    var names = viewers.filter(function (v) { return v.id !== me; }).map(function (v) { return v.name; });
    var el = this.banner.querySelector(".locks-presence");
    var others = message.count - (names.length < viewers.length ? 1 : 0);  // not counting me
    if (!names.length) { el.hidden = true; return; }
    var text = interpolate(gettext("Also viewing: %(names)s"), { names: names.join(", ") }, true);
    if (others > names.length) { text += " " + interpolate(gettext("and %(n)s more"), { n: others - names.length }, true); }
    el.textContent = text;
    el.hidden = false;
  };

  ChangeForm.prototype.keep = function () {
    if (!this.form || this.lost) { return; }
    // The version and base the input was typed against (the form's own hidden fields; live
    // updates never change them), so restoring it later leads to a merge, not an overwrite.
    var base = this.form.querySelector("[name=_locks_base]");
    var version = this.form.querySelector("[name=_locks_version]");
    var data = { version: version ? version.value : "", base: base ? base.value : "", fields: snapshot(this.form) };
    try { sessionStorage.setItem(this.storeKey, JSON.stringify(data)); } catch (e) { /* storage full */ }
  };

  ChangeForm.prototype.loseLock = function (lock) {
    var self = this;
    if (this.lost) { return; }
    this.keep();
    this.lost = true;
    this.lock = lock;
    if (this.form) { setReadOnly(this.form, true); }
    this.banner.className = "locks-banner locks-lost";
    if (lock && lock.held) {
      this.refreshMessage();
      // Someone else holds it: get it back automatically as soon as it is free.
      this.actions([[gettext("Edit when free"), function (event) {
        self.editWhenFree = true;
        event.target.disabled = true;
        event.target.textContent = gettext("You will get the record when it is free…");
      }]]);
    } else {
      this.message(gettext("You no longer hold the lock. Your unsaved changes are kept in this tab."));
      this.actions([[gettext("Edit again"), function () { self.takeLock(); }]]);
    }
  };

  ChangeForm.prototype.actions = function (buttons) {
    var box = this.banner.querySelector(".locks-actions");
    box.textContent = "";
    buttons.forEach(function (spec) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button";
      button.textContent = spec[0];
      button.addEventListener("click", spec[1]);
      box.appendChild(button);
    });
  };

  ChangeForm.prototype.offerEditWhenFree = function () {
    var self = this;
    var box = this.banner.querySelector(".locks-actions");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button locks-edit-when-free";
    button.textContent = gettext("Edit when free");
    button.addEventListener("click", function () {
      self.editWhenFree = true;
      button.disabled = true;
      button.textContent = gettext("You will get the record when it is free…");
    });
    box.appendChild(button);
  };

  /* "Ask to edit" without leaving the page, so "Edit when free" stays armed. */
  ChangeForm.prototype.askInPlace = function () {
    var self = this;
    var button = this.banner.querySelector(".locks-ask");
    var form = button && button.form;
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      post(form.action, {}).then(function (reply) {
        self.status(reply.ok ? gettext("Your request was sent.") : reply.message || gettext("Nobody else is editing this record now."));
      }).catch(function () { button.disabled = false; });
    });
  };

  ChangeForm.prototype.showHandover = function (name) {
    var self = this;
    var note = this.banner.querySelector(".locks-handover-note");
    if (!name) { if (note) { note.hidden = true; } return; }
    if (!note) {
      note = document.createElement("p");
      note.className = "locks-handover-note";
      this.banner.insertBefore(note, this.banner.querySelector(".locks-actions"));
    }
    note.hidden = false;
    note.textContent = interpolate(gettext("%(name)s asks to edit this record."), { name: name }, true);
    if (!this.banner.querySelector(".locks-hand-over")) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button locks-hand-over";
      button.textContent = gettext("Hand over now");
      button.addEventListener("click", function () { self.handOver(); });
      this.banner.querySelector(".locks-actions").appendChild(button);
    }
  };

  ChangeForm.prototype.handOver = function () {
    var self = this;
    this.keep();
    post(this.data.releaseUrl, { lease: this.lease }).then(function () {
      self.loseLock(null);
      self.message(gettext("You handed this record over. Your unsaved changes are kept in this tab."));
    });
  };

  ChangeForm.prototype.offerRestore = function () {
    var self = this;
    var saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(this.storeKey) || "null"); } catch (e) { saved = null; }
    if (!saved || !saved.fields || !this.form) { return; }
    if (this.data.refused === "1") { sessionStorage.removeItem(this.storeKey); return; }  // server showed them
    var box = this.banner.querySelector(".locks-restore");
    box.hidden = false;
    box.querySelector("button").addEventListener("click", function () {
      fill(self.form, saved.fields);
      // Keep the version the input was based on, so the server merges instead of overwriting.
      var version = self.form.querySelector("[name=_locks_version]");
      if (version && saved.version) { version.value = saved.version; }
      var base = self.form.querySelector("[name=_locks_base]");
      if (base && saved.base) { base.value = saved.base; }
      sessionStorage.removeItem(self.storeKey);
      box.hidden = true;
      self.status(gettext("Your unsaved changes are back. Save to keep them."));
    });
  };

  ChangeForm.prototype.linkDelete = function () {
    var self = this;
    var link = document.querySelector(".submit-row a.deletelink");
    if (!link) { return; }
    var url = new URL(link.href, window.location.href);
    url.searchParams.set("_locks_lease", this.lease);
    link.href = url.toString();
    link.addEventListener("click", function () { self.submitting = true; });
  };

  /* Unloading. beforeunload runs before the next request goes out: a short-lived cookie
     lets a reload of this tab take its lease back (the server rotates the token). pagehide
     runs after: the goodbye releases the lock unless that reload already took it over. */
  ChangeForm.prototype.markReload = function () {
    if (!this.holding() || this.submitting) { return; }
    document.cookie = "locks_reclaim_" + this.data.recordKey + "=" + encodeURIComponent(this.lease) +
      "; max-age=10; path=/; samesite=strict" + (window.location.protocol === "https:" ? "; secure" : "");
  };

  ChangeForm.prototype.leave = function () {
    if (this.holding() && !this.submitting) {
      beacon(this.data.releaseUrl, { lease: this.lease });
    }
  };

  /* ------------------------------------------------------------ change lists and the console */

  function ChangeList(root) {
    var d = root.dataset;
    this.root = root;
    this.ct = parseInt(d.ct, 10);
    this.statesUrl = d.statesUrl;
    this.console = d.console === "1";
    this.interval = Math.max(1, parseInt(d.interval, 10) || 15) * 1000;
    this.userId = parseInt(d.userId, 10);
    this.timer = null;
    this.live = d.wsUrl ? new Live(d.wsUrl, {
      open: this.onOpen.bind(this),
      message: this.onMessage.bind(this),
      close: this.onClose.bind(this)
    }) : null;
  }

  ChangeList.prototype.pks = function () {
    return Array.prototype.map.call(document.querySelectorAll("[data-locks-pk]"), function (el) { return el.dataset.locksPk; });
  };

  ChangeList.prototype.start = function () {
    if (this.live) { this.live.connect(); }
    this.schedule(this.interval);
  };

  ChangeList.prototype.schedule = function (delay) {
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.poll(); }, delay);
  };

  ChangeList.prototype.poll = function () {
    if (this.live && this.live.connected) { this.schedule(this.interval); return; }
    this.resync();
  };

  /* Fetch the current state once (polling, and after every (re)connection). */
  ChangeList.prototype.resync = function () {
    var self = this;
    var done = function () { self.schedule(self.interval); };
    if (this.console) { this.reloadTable().then(done, done); return; }
    var query = this.pks().map(function (pk) { return "pk=" + encodeURIComponent(pk); }).join("&");
    getJSON(this.statesUrl + "?" + query).then(function (reply) {
      self.pks().forEach(function (pk) { self.badge(pk, reply.locks[pk] || { held: false }); });
    }).then(done, done);
  };

  /* Many row digests may arrive together: one resync for all of them. */
  ChangeList.prototype.resyncSoon = function () {
    var self = this;
    if (this.resyncTimer) { return; }
    this.resyncTimer = setTimeout(function () { self.resyncTimer = null; self.resync(); }, 200);
  };

  ChangeList.prototype.onOpen = function () {
    var self = this;
    var pks = this.pks();
    if (!this.console && !pks.length) { return; }
    var topic = this.console ? { console: true } : { rows: { ct: this.ct, pks: pks } };
    this.live.subscribe(topic).then(function (ok) {
      if (ok) { self.resync(); }  // catch up once; from now on events keep the page current
    });
  };

  ChangeList.prototype.onClose = function () { this.schedule(1000); };

  ChangeList.prototype.onMessage = function (message) {
    var type = message.type || "";
    if (type === "resync" || type === "digest") { this.resyncSoon(); return; }
    if (this.console) {
      if (type.indexOf("lock.") === 0) { this.reloadTable(); }
      return;
    }
    if (!message.record || message.record.ct !== this.ct) { return; }
    var pk = String(message.record.pk);
    if (type.indexOf("lock.") === 0) { this.badge(pk, message.lock); }
    if (type === "record.saved") { this.cells(pk, message.values || {}); }
  };

  ChangeList.prototype.badge = function (pk, lock) {
    var el = document.querySelector("[data-locks-pk='" + CSS.escape(pk) + "']");
    if (!el) { return; }
    if (lock.held) {
      el.className = "locks-badge locks-badge-held";
      el.textContent = "✎ " + (lock.holder_id === this.userId ? gettext("You") : lock.holder);
      el.title = interpolate(gettext("Being edited by %(holder)s"), { holder: lock.holder }, true);
    } else {
      el.className = "locks-badge";
      el.textContent = "";
      el.title = "";
    }
  };

  ChangeList.prototype.cells = function (pk, values) {
    var badge = document.querySelector("[data-locks-pk='" + CSS.escape(pk) + "']");
    var row = badge && badge.closest("tr");
    if (!row) { return; }
    Object.keys(values).forEach(function (name) {
      var cell = row.querySelector(".field-" + CSS.escape(name));
      if (!cell) { return; }
      var target = cell.querySelector("a") || cell;
      if (target.textContent !== values[name]) { target.textContent = values[name]; flash(cell); }
    });
  };

  ChangeList.prototype.reloadTable = function () {
    return fetch(window.location.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("#result_list");
      var current = document.querySelector("#result_list");
      if (!fresh || !current) { return; }
      // What the manager has ticked now (not when the request started) stays ticked.
      var checked = Array.prototype.map.call(current.querySelectorAll("input.action-select:checked"), function (el) { return el.value; });
      current.replaceWith(fresh);
      checked.forEach(function (value) {
        var box = fresh.querySelector("input.action-select[value='" + CSS.escape(value) + "']");
        if (box) { box.checked = true; }
      });
      var boxes = document.querySelectorAll("tr input.action-select");
      if (window.Actions && boxes.length) { window.Actions(boxes); }  // the admin's own wiring
    });
  };

  /* ------------------------------------------------------------ the delete confirmation */

  function DeletePage(data) {
    var submitting = false;
    document.addEventListener("submit", function () { submitting = true; }, true);
    window.addEventListener("pagehide", function () {
      if (!submitting) { beacon(data.release_url, { lease: data.lease }); }
    });
  }

  function start() {
    var banner = document.getElementById("locks-banner");
    if (banner) {
      window.locksPage = new ChangeForm(banner);
      window.locksPage.start();
    }
    var list = document.getElementById("locks-list");
    if (list) {
      window.locksList = new ChangeList(list);
      window.locksList.start();
    }
    var deleteData = document.getElementById("locks-page");
    if (deleteData) { DeletePage(JSON.parse(deleteData.textContent)); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
