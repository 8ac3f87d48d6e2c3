/* The page's picture of the lock: one explicit state value and the only function that
 * changes it. Inputs are server messages and replies (lock events, heartbeat/state/sync
 * replies, refusals) plus what the connection knows (offline, session ended). No DOM here:
 * `next` is pure, so every transition can be reasoned about (and tested) on its own.
 *
 * Advisory mode (the ModelAdmin's `lock_mode = "advisory"`): the lock only tells who else is
 * editing, so the page never becomes read-only and has nothing to take or ask for. It is
 * `editing` (this tab holds the lock), `editing-in-other-tab`, `editing-alongside` (someone
 * else is editing: they hold the lock, or their page says so in `presence`; this tab may edit
 * too) or `editing-alone` (nobody else is editing).
 */

export const EDITING = "editing";
export const OTHER_TAB = "editing-in-other-tab";
export const VIEWING_HELD = "viewing-held";
export const VIEWING_FREE = "viewing-free";
export const LOST = "lost";
export const OFFLINE = "offline-unsure";
export const NO_PERMISSION = "no-permission";
export const SESSION_ENDED = "session-ended";
export const DELETED = "deleted";
export const ALONGSIDE = "editing-alongside";  // advisory: someone else is editing too
export const ALONE = "editing-alone";          // advisory: nobody else is editing

/* Events after which the lock is free; the rest carry a holder. */
const WHY = {
  "lock.taken_over": "taken_over",
  "lock.force_released": "force_released",
  "lock.expired": "expired",
  "lock.idle_released": "idle_released",
  "lock.released": "released",
};

export function holding(state) {
  return state.name === EDITING || state.name === OFFLINE;
}

/* The state a page starts in, from what the server rendered. */
export function initial(page) {
  const advisory = Boolean(page.advisory);
  const held = page.lock && page.lock.held;
  let name = advisory ? ALONE : VIEWING_FREE;
  if (page.canEdit) { name = EDITING; }
  else if (page.heldInOtherTab) { name = OTHER_TAB; }
  else if (held) { name = advisory ? ALONGSIDE : VIEWING_HELD; }
  return {
    name,
    advisory,          // nobody is made read-only; the version guard protects the data
    lock: page.lock || { held: false },
    receivedAt: page.now,
    me: page.userId,
    fence: page.fence,
    manager: page.manager,
    kept: false,       // this tab keeps input typed while it held the lock
    why: null,         // how this tab lost the lock: {kind, actor, reason}
    armed: false,      // "Edit when free": take the lock as soon as it is free
    asked: false,      // a handover request of ours is pending
    declined: null,    // the holder declined our request: {actor, reason}
    note: "",          // the outcome of the last action, in words
    offlineSeconds: 0,
    before: null,      // the state a session end or an outage interrupted
    saved: false,      // the record was saved since this page loaded its form
    editors: [],       // advisory: other users whose pages say they edit ({id, name, unsaved})
  };
}

/* Advisory mode: everyone else editing the record, each once: the lock's holder (with the
   lock's unsaved flag) and the users whose pages say so in `presence` (known only while the
   socket is open). A user's several pages count once; this user's own are left out. */
export function othersEditing(state) {
  const lock = state.lock || {};
  const others = [];
  if (lock.held && lock.holder_id !== state.me) {
    others.push({ id: lock.holder_id, name: lock.holder, unsaved: Boolean(lock.unsaved), holder: true });
  }
  (state.editors || []).forEach((editor) => {
    if (editor.id === state.me) { return; }
    const known = others.find((other) => other.id === editor.id);
    if (known) { known.unsaved = known.unsaved || Boolean(editor.unsaved); return; }
    others.push({ id: editor.id, name: editor.name, unsaved: Boolean(editor.unsaved), holder: false });
  });
  return others;
}

/* Where a lock payload puts this page, given what it was. */
function place(state, lock, why) {
  const me = state.me;
  if (holding(state)) {
    const mine = lock.held && lock.holder_id === me && lock.fence === state.fence;
    if (mine) { return { ...state, name: EDITING, lock }; }
    return { ...state, name: lock.held ? LOST : VIEWING_FREE, lock, kept: true, why, armed: false, asked: false };
  }
  if (state.name === NO_PERMISSION) { return { ...state, lock }; }
  if (!lock.held) { return { ...state, name: VIEWING_FREE, lock, asked: false }; }
  const newHolder = !state.lock.held || state.lock.holder_id !== lock.holder_id;
  const asked = newHolder ? false : state.asked;
  const declined = newHolder ? null : state.declined;
  if (lock.holder_id === me && !state.kept) { return { ...state, name: OTHER_TAB, lock, asked, declined }; }
  return { ...state, name: state.kept ? LOST : VIEWING_HELD, lock, asked, declined };
}

/* Advisory mode: the lock and presence say who else is editing; the form is never taken away. */
function alongside(state, lock) {
  if (holding(state) && lock.held && lock.holder_id === state.me && lock.fence === state.fence) {
    return { ...state, name: EDITING, lock };
  }
  if (lock.held && lock.holder_id === state.me) { return { ...state, name: OTHER_TAB, lock }; }
  return { ...state, name: othersEditing({ ...state, lock }).length ? ALONGSIDE : ALONE, lock };
}

/* Where a lock payload puts this page, in the page's lock mode. */
function settle(state, lock, why) {
  return state.advisory ? alongside(state, lock) : place(state, lock, why);
}

/* Why a holder lost the lock, from the message that says so (or, for a refused heartbeat,
   from the lock as it now is). */
function reasonFor(input, state) {
  const lock = input.lock || {};
  if (WHY[input.event]) {
    if (input.event === "lock.released" || input.event === "lock.taken_over") {
      if (input.actorId === state.me) { return { kind: "other_tab" }; }
    }
    // Whoever takes a lock over holds it: name them even where the event names no actor.
    const actor = input.actor || (input.event === "lock.taken_over" && lock.held ? lock.holder : "");
    return { kind: WHY[input.event], actor: actor || "", reason: input.reason || "" };
  }
  if (lock.held && lock.holder_id === state.me) { return { kind: "other_tab" }; }
  if (lock.held) { return { kind: "taken_over", actor: lock.holder || "", reason: "" }; }
  return { kind: "expired" };
}

/* The one transition function. */
export function next(state, input) {
  const at = input.at;
  switch (input.kind) {
    case "lock": {  // a lock.* event, or a state/sync reply
      if (state.name === DELETED) { return state; }
      const base = state.before
        ? { ...state.before, kept: state.kept || state.before.kept, saved: state.saved || state.before.saved, editors: state.editors }
        : state;
      let s = { ...base, before: null, offlineSeconds: 0, receivedAt: at, note: "" };
      if (input.event === "lock.handover_declined" && input.lock && input.lock.holder_id !== state.me) {
        s = { ...s, asked: false, declined: { actor: input.actor || (input.lock && input.lock.holder) || "", reason: input.reason || "" } };
      }
      const placed = settle(s, input.lock, holding(s) ? reasonFor(input, s) : s.why);
      // The outcome of the last click stays until the state itself changes.
      return placed.name === state.name ? { ...placed, note: state.note } : placed;
    }
    case "heartbeat": {  // a heartbeat reply: ok keeps the lock, a refusal loses it
      const base = state.before && holding(state.before) ? { ...state.before, saved: state.saved, editors: state.editors } : state;
      if (!holding(base)) { return state; }
      if (input.ok) {
        const lock = input.lock || state.lock;
        return { ...base, name: EDITING, lock, fence: lock.fence || base.fence, receivedAt: at, before: null, offlineSeconds: 0 };
      }
      return settle({ ...base, before: null, receivedAt: at }, input.lock || { held: false }, reasonFor(input, base));
    }
    case "offline":  // the holder has not reached the server for longer than the lock lasts
      if (!holding(state)) { return state; }
      return { ...state, name: OFFLINE, offlineSeconds: input.seconds, before: state.before || state };
    case "released":  // our own release was accepted: "Stop editing" or "Hand over now"
      if (state.advisory) { return { ...alongside(state, { held: false }), note: "" }; }
      return { ...state, name: VIEWING_FREE, lock: { held: false }, kept: true, why: { kind: input.how }, note: "" };
    case "refused":  // the server said no to a click
      if (input.status === 403) { return { ...state, name: NO_PERMISSION, note: input.message, armed: false }; }
      return { ...state, note: input.message, armed: false };
    case "asked":
      return { ...state, asked: input.ok, declined: null, note: input.message };
    case "arm":
      return { ...state, armed: input.on, note: "" };
    case "note":
      return { ...state, note: input.message };
    case "saved":  // someone saved the record after this page loaded its form
      return { ...state, saved: true };
    case "presence": {  // who else says they edit (advisory); [] when the socket closed
      const s = { ...state, editors: input.editors || [] };
      if (!s.advisory || (s.name !== ALONE && s.name !== ALONGSIDE)) { return s; }
      return { ...s, name: othersEditing(s).length ? ALONGSIDE : ALONE };
    }
    case "ended":
      if (state.name === SESSION_ENDED) { return state; }
      return { ...state, name: SESSION_ENDED, before: state.before || state };
    case "deleted":
      return { ...state, name: DELETED, armed: false, asked: false };
    default:
      return state;
  }
}
