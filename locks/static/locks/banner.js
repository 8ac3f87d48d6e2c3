/* The banner: `describe(state)` says what the page shows for a state (a pure function), and
 * `Banner` puts that into the DOM. Only the sentence and the outcome line are live regions
 * (role="status"); "active N s ago" and the buttons sit outside them, so screen readers hear
 * state changes, not a ticking clock.
 */

import * as S from "./lockstate.js";
import { duration, gettext, hhmm, interpolate } from "./text.js";

/* Seconds since the holder's last activity: the server's idle_seconds plus the time since the
   payload arrived (this page's monotonic clock, never the browser's wall clock). */
export function idleSeconds(state, now) {
  const lock = state.lock;
  if (lock.idle_seconds === undefined || lock.idle_seconds === null) {
    // A server without idle_seconds (older): its timestamps are all there is.
    return lock.last_active ? (Date.now() - new Date(lock.last_active).getTime()) / 1000 : 0;
  }
  return lock.idle_seconds + (now - state.receivedAt) / 1000;
}

function whySentence(why) {
  if (!why) { return ""; }
  const actor = why.actor || gettext("A lock manager");
  switch (why.kind) {
    case "taken_over":
      return why.reason
        ? interpolate(gettext("%(actor)s took it over: “%(reason)s”."), { actor, reason: why.reason })
        : interpolate(gettext("%(actor)s took it over."), { actor });
    case "force_released":
      return why.reason
        ? interpolate(gettext("%(actor)s released it: “%(reason)s”."), { actor, reason: why.reason })
        : interpolate(gettext("%(actor)s released it."), { actor });
    case "expired": return gettext("It expired: this page could not reach the server in time.");
    case "idle_released": return gettext("It was released after a long time without input.");
    case "other_tab": return gettext("You are editing this in another tab.");
    case "handed_over": return gettext("You handed this record over.");
    case "stopped": return gettext("You stopped editing.");
    default: return gettext("It was released.");
  }
}

function viewerButtons(state) {
  const buttons = [];
  if (state.manager) {
    buttons.push({ action: "take-over", label: gettext("Take over"), reason: true });
  } else if (!state.asked) {
    buttons.push({ action: "ask", label: gettext("Ask to edit") });
  }
  buttons.push(state.armed
    ? { action: "disarm", label: gettext("Stop waiting") }
    : { action: "arm", label: gettext("Edit when free") });
  return buttons;
}

function holderLine(state) {
  const lock = state.lock;
  return interpolate(gettext("%(holder)s is editing since %(since)s"), { holder: lock.holder, since: hhmm(lock.since) });
}

/* "Alice Archer is editing this record too and has unsaved changes", or, for several,
   "Alice Archer (unsaved changes) and Bob Brown are editing this record too". */
function editingTooSentence(others) {
  if (others.length === 1) {
    const holder = others[0].name;
    return others[0].unsaved
      ? interpolate(gettext("%(holder)s is editing this record too and has unsaved changes"), { holder })
      : interpolate(gettext("%(holder)s is editing this record too"), { holder });
  }
  const names = others.map((other) => (other.unsaved
    ? interpolate(gettext("%(name)s (unsaved changes)"), { name: other.name })
    : other.name));
  const last = names.pop();
  return interpolate(gettext("%(names)s and %(last)s are editing this record too"), { names: names.join(", "), last });
}

/* Advisory mode: who else is editing (with their unsaved changes), never a lock-taking button,
   and, once someone saved, that this page's save will show the merge screen. The states the
   modes share (session ended, deleted, no permission) are described as in any mode. */
function describeAdvisory(state, now) {
  const others = S.othersEditing(state);
  const view = { tone: "free", sentence: "", activity: "", buttons: [], notice: null, title: null, note: state.note, alert: false };
  switch (state.name) {
    case S.EDITING:
      view.tone = "editing";
      if (others.length) {
        view.sentence = `${editingTooSentence(others)}.`;
        view.activity = gettext("You are editing it as well: if they save first, you choose what to keep when you save.");
      } else {
        view.sentence = gettext("You are editing this record. Others may edit it too: if someone saves first, you choose what to keep when you save.");
      }
      break;
    case S.ALONGSIDE:
      if (!others.length) {  // not reached: the state says someone else is editing
        view.sentence = gettext("Nobody else is editing this record.");
        break;
      }
      view.tone = "shared";
      view.sentence = editingTooSentence(others);
      if (others.length === 1 && others[0].holder) {  // the lock says how long ago they typed
        view.activity = interpolate(
          gettext("(active %(ago)s ago). You may edit it as well: if they save first, you choose what to keep when you save."),
          { ago: duration(idleSeconds(state, now)) });
      } else {
        view.sentence += ".";
        view.activity = gettext("You may edit it as well: if they save first, you choose what to keep when you save.");
      }
      break;
    case S.OTHER_TAB:
      view.tone = "shared";
      if (others.length) {
        view.sentence = `${editingTooSentence(others)}.`;
        view.activity = gettext("You are also editing it in another tab: if they save first, you choose what to keep when you save.");
      } else {
        view.sentence = gettext("You are also editing this record in another tab.");
      }
      break;
    case S.ALONE:
      view.sentence = gettext("Nobody else is editing this record.");
      break;
    case S.OFFLINE:
      view.tone = "lost";
      view.sentence = interpolate(
        gettext("Cannot reach the server for %(n)s, so others may not see that you are editing. Retrying…"),
        { n: duration(state.offlineSeconds) });
      break;
    default:
      return null;
  }
  if (state.saved) {
    const saved = gettext("Someone saved this record after you opened it. What you typed is kept: when you save, you choose, field by field, what to keep.");
    view.note = [saved, view.note].filter(Boolean).join(" ");
    view.alert = true;
  }
  return view;
}

/* What the banner shows in `state`: text, buttons (each valid in that state), the handover
   notice and the tab title. */
export function describe(state, now) {
  const advisory = state.advisory ? describeAdvisory(state, now) : null;
  if (advisory) { return advisory; }
  const lock = state.lock || {};
  const kept = gettext("Your unsaved changes are kept in this tab.");
  const view = { tone: "readonly", sentence: "", activity: "", buttons: [], notice: null, title: null, note: state.note, alert: false };
  const others = lock.held && lock.holder_id !== state.me;
  if (others && !S.holding(state)) {
    view.activity = interpolate(gettext("(active %(ago)s ago)."), { ago: duration(idleSeconds(state, now)) });
    if (lock.unsaved) {
      view.activity += " " + interpolate(gettext("%(holder)s has unsaved changes."), { holder: lock.holder });
    }
  }
  switch (state.name) {
    case S.EDITING: {
      view.tone = "editing";
      view.sentence = gettext("You are editing this record. Others see it read-only.");
      view.buttons = [{ action: "stop", label: gettext("Stop editing") }];
      const asker = lock.handover_requested_by;
      if (asker) {
        const text = interpolate(gettext("%(name)s asks to edit this record."), { name: asker });
        view.sentence += " " + text;
        view.notice = {
          text,
          buttons: [
            { action: "hand-over", label: gettext("Hand over now") },
            { action: "save-hand-over", label: gettext("Save and hand over") },
            { action: "decline", label: gettext("Decline"), reason: true },
          ],
        };
        view.title = interpolate(gettext("✋ %(name)s asks to edit"), { name: asker });
      }
      break;
    }
    case S.OFFLINE:
      view.tone = "lost";
      view.sentence = interpolate(
        gettext("Cannot reach the server for %(n)s. Your lock may have lapsed; what you typed stays in this tab. Retrying…"),
        { n: duration(state.offlineSeconds) });
      break;
    case S.OTHER_TAB:
      view.sentence = gettext("You are editing this in another tab.");
      view.buttons = [{ action: "edit-here", label: gettext("Edit here instead") }];
      break;
    case S.VIEWING_HELD:
      view.sentence = holderLine(state);
      view.buttons = viewerButtons(state);
      break;
    case S.LOST:
      view.tone = "lost";
      view.sentence = [gettext("You no longer hold the lock:"), whySentence(state.why),
        lock.holder_id !== state.me ? holderLine(state) + "." : "", kept].filter(Boolean).join(" ");
      view.activity = "";
      view.buttons = lock.holder_id === state.me
        ? [{ action: "edit-here", label: gettext("Edit here instead") }]
        : viewerButtons(state);
      break;
    case S.VIEWING_FREE:
      view.tone = state.kept ? "lost" : "free-now";
      view.sentence = state.kept
        ? [gettext("You no longer hold the lock:"), whySentence(state.why),
          gettext("The record is free now. Edit again to restore your unsaved changes.")].join(" ")
        : gettext("The record is free now.");
      if (state.kept && (state.why && (state.why.kind === "stopped" || state.why.kind === "handed_over"))) {
        view.sentence = [whySentence(state.why), kept, gettext("The record is free now.")].join(" ");
      }
      view.buttons = [{ action: "edit", label: state.kept ? gettext("Edit again") : gettext("Edit now") }];
      break;
    case S.NO_PERMISSION:
      view.sentence = lock.held && lock.holder_id !== state.me
        ? holderLine(state) + ". " + gettext("You may view this record but not edit it.")
        : gettext("You may view this record but not edit it.");
      break;
    case S.SESSION_ENDED:
      view.tone = "lost";
      view.sentence = gettext("Your session has ended. Log in again in another tab to go on; what you typed stays on this page.");
      view.activity = "";
      break;
    case S.DELETED:
      view.tone = "lost";
      view.sentence = gettext("This record was deleted.");
      view.activity = "";
      break;
    default:
      break;
  }
  if (state.declined && state.name === S.VIEWING_HELD) {
    const who = state.declined.actor || lock.holder;
    view.note = state.declined.reason
      ? interpolate(gettext("%(holder)s declined your request: “%(reason)s”."), { holder: who, reason: state.declined.reason })
      : interpolate(gettext("%(holder)s declined your request."), { holder: who });
  }
  if (state.armed && !view.note) {
    view.note = gettext("You will get the record when it is free…");
  }
  return view;
}

function keyOf(buttons) { return buttons.map((b) => b.action).join(","); }

/* Puts a description into the page. `act(action, fields, button)` runs a click. */
export class Banner {
  constructor(root, notice, urls, act) {
    this.root = root;
    this.notice = notice;
    this.urls = urls;
    this.act = act;
    this.sentence = root.querySelector(".locks-sentence");
    this.activity = root.querySelector(".locks-activity");
    this.actions = root.querySelector(".locks-actions");
    this.status = root.querySelector(".locks-status");
    this.title = document.title;
    this.shownKey = null;
    this.noticeKey = null;
    root.querySelectorAll(":scope > .locks-handover-note").forEach((el) => el.remove());  // the notice shows it
  }

  render(view) {
    this.root.classList.remove("locks-editing", "locks-readonly", "locks-lost", "locks-free-now", "locks-free", "locks-shared");
    this.root.classList.add(`locks-${view.tone}`);
    if (this.sentence.textContent !== view.sentence) { this.sentence.textContent = view.sentence; }
    // A live region from the first drawing on: later changes are announced, the load is not.
    if (!this.sentence.hasAttribute("role")) { this.sentence.setAttribute("role", "status"); }
    const activity = view.activity ? ` ${view.activity}` : "";
    if (this.activity.textContent !== activity) { this.activity.textContent = activity; }
    this.setStatus(view.note || "");
    this.status.classList.toggle("locks-alert", Boolean(view.alert));
    const key = keyOf(view.buttons);
    if (key !== this.shownKey) {
      this.shownKey = key;
      this.fill(this.actions, view.buttons);
    }
    this.showNotice(view.notice);
    document.title = view.title ? `${view.title} · ${this.title}` : this.title;
  }

  setStatus(text) {
    if (this.status.textContent !== text) { this.status.textContent = text; }
  }

  showNotice(notice) {
    const key = notice ? notice.text : null;
    if (key === this.noticeKey) { return; }
    this.noticeKey = key;
    this.notice.hidden = !notice;
    if (!notice) { return; }
    this.notice.querySelector(".locks-handover-note").textContent = notice.text;
    this.fill(this.notice.querySelector(".locks-notice-actions"), notice.buttons);
  }

  fill(box, buttons) {
    const hadFocus = box.contains(document.activeElement);
    box.textContent = "";
    buttons.forEach((spec) => box.appendChild(this.control(spec)));
    if (hadFocus) { this.focusFirst(); }
  }

  control(spec) {
    const button = document.createElement("button");
    button.type = spec.reason ? "submit" : "button";
    button.className = `button locks-${spec.action}`;
    button.textContent = spec.label;
    if (!spec.reason) {
      button.addEventListener("click", () => this.act(spec.action, {}, button));
      return button;
    }
    // An optional reason travels with the click: a small form around the button.
    const form = document.createElement("form");
    form.className = "locks-inline-form";
    const label = document.createElement("label");
    label.textContent = `${gettext("Reason (optional)")} `;
    const input = document.createElement("input");
    input.type = "text";
    input.name = "reason";
    input.maxLength = 500;
    input.className = "locks-reason";
    label.appendChild(input);
    form.append(label, button);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.act(spec.action, { reason: input.value }, button);
    });
    return form;
  }

  /* After an action: the next sensible control, or the banner itself. */
  focusFirst() {
    const target = this.actions.querySelector("button:not([disabled])") || this.sentence.closest("#locks-banner");
    if (target) { target.focus({ preventScroll: false }); }
  }
}
