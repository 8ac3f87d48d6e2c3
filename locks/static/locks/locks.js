/* Edit locks in the browser: heartbeat, release on leave, live state, unsaved-input keeping.
 *
 * The browser enforces nothing: the server decides who may write, and this script only
 * reflects it. Every URL and value is read from data-* attributes on #locks-banner.
 */
(function () {
  "use strict";

  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\((\w+)\)s/g, function (_, k) { return String(obj[k]); });
  };

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) { return input.value; }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function post(url, fields) {
    var body = new FormData();
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
    var body = new FormData();
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    body.append("csrfmiddlewaretoken", csrfToken());
    body.append("beacon", "1");
    if (navigator.sendBeacon) { navigator.sendBeacon(url, body); }
  }

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
    var rows = form.querySelectorAll(".submit-row");
    Array.prototype.forEach.call(rows, function (row) { row.style.display = readOnly ? "none" : ""; });
  }

  /* ------------------------------------------------------------ the change form */

  function ChangeForm(banner) {
    this.banner = banner;
    this.data = banner.dataset;
    this.form = document.querySelector("#content-main > form[method=post]:not(.locks-inline-form)");
    this.lease = this.data.lease;
    this.canEdit = this.data.canEdit === "1";
    this.interval = Math.max(1, parseInt(this.data.interval, 10) || 15) * 1000;
    this.storeKey = "locks:unsaved:" + this.data.recordKey;
    this.active = false;
    this.submitting = false;
    this.failures = 0;
    this.timer = null;
    this.lost = false;
    this.version = this.data.version;
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
      this.schedule(this.interval);
    } else {
      this.schedule(this.interval);
    }
    window.addEventListener("pagehide", function () { self.leave(); });
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) { window.location.reload(); }  // back from bfcache: lease was released
    });
  };

  ChangeForm.prototype.schedule = function (delay) {
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.tick(); }, delay);
  };

  ChangeForm.prototype.tick = function () {
    var self = this;
    var request = this.canEdit && !this.lost
      ? post(this.data.heartbeatUrl, { lease: this.lease, active: this.active ? "1" : "0" })
      : getJSON(this.data.stateUrl);
    var wasActive = this.active;
    this.active = false;
    request.then(function (reply) {
      self.failures = 0;
      self.status("");
      self.apply(reply);
      self.schedule(self.interval);
    }).catch(function () {
      // One lost request never costs the lock: retry sooner, with backoff and jitter.
      self.active = self.active || wasActive;
      self.failures += 1;
      self.status(gettext("Cannot reach the server. Retrying…"));
      var delay = Math.min(self.interval, 1000 * Math.pow(2, self.failures - 1));
      self.schedule(delay * (0.75 + Math.random() * 0.5));
    });
  };

  ChangeForm.prototype.apply = function (reply) {
    if (this.canEdit && !this.lost) {
      if (reply.ok === false) { this.loseLock(reply); return; }
      this.showHandover(reply.lock && reply.lock.handover_requested_by);
      return;
    }
    this.showViewerState(reply);
  };

  ChangeForm.prototype.message = function (text) {
    this.banner.querySelector(".locks-message").textContent = text;
  };

  ChangeForm.prototype.status = function (text) {
    var el = this.banner.querySelector(".locks-status");
    el.textContent = text;
    el.hidden = !text;
  };

  ChangeForm.prototype.keep = function () {
    if (!this.form || this.lost) { return; }
    var data = { version: this.version, base: (this.form.querySelector("[name=_locks_base]") || {}).value || "", fields: snapshot(this.form) };
    try { sessionStorage.setItem(this.storeKey, JSON.stringify(data)); } catch (e) { /* storage full: nothing to do */ }
  };

  ChangeForm.prototype.loseLock = function (reply) {
    this.lost = true;
    this.keep();
    this.lost = true;
    if (this.form) { setReadOnly(this.form, true); }
    this.banner.className = "locks-banner locks-lost";
    var who = reply.lock && reply.lock.held ? reply.message : gettext("Your lock expired.");
    this.message(interpolate(gettext("You no longer hold the lock: %(why)s Your unsaved changes are kept in this tab."), { why: who }, true));
    this.actions([
      [gettext("Edit again"), function () { window.location.reload(); }]
    ]);
    this.schedule(this.interval);
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
      self.loseLock({ lock: { held: false }, message: "" });
      self.message(gettext("You handed this record over. Your unsaved changes are kept in this tab."));
    });
  };

  ChangeForm.prototype.showViewerState = function (reply) {
    if (!reply.lock) { return; }
    if (reply.lock.held) {
      if (!this.lost) { this.message(reply.message); }
      return;
    }
    this.banner.className = "locks-banner locks-free-now";
    this.message(this.lost
      ? gettext("The record is free now. Edit again to restore your unsaved changes.")
      : gettext("The record is free now."));
    this.actions([[this.lost ? gettext("Edit again") : gettext("Edit now"), function () { window.location.reload(); }]]);
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

  ChangeForm.prototype.leave = function () {
    if (this.canEdit && !this.lost && !this.submitting) {
      beacon(this.data.releaseUrl, { lease: this.lease });
    }
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
    var deleteData = document.getElementById("locks-page");
    if (deleteData) { DeletePage(JSON.parse(deleteData.textContent)); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
