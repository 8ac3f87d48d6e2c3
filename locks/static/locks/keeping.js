/* Input keeping: what the user typed survives losing the lock, and comes back three-way.
 *
 * The tab keeps (in sessionStorage) the values the form showed when it loaded (`start`) and
 * the values typed since (`fields`), with the version and base they were typed against.
 * Restoring on a newer page fills only the fields the user changed from `start`; fields the
 * user did not touch keep the newer saved values; a field both sides changed keeps the old
 * version on the form, so saving leads to the merge screen instead of an overwrite.
 */

const GUARD = ["_locks_version", "_locks_fingerprint", "_locks_base"];
const SKIP = /^(csrfmiddlewaretoken|_locks_|_save|_continue|_addanother|_saveasnew)/;

/* name -> list of values, as the form would post them. */
export function snapshot(form) {
  const fields = {};
  new FormData(form).forEach((value, name) => {
    if (!SKIP.test(name) && typeof value === "string") { (fields[name] = fields[name] || []).push(value); }
  });
  // Unchecked boxes and empty multi-selects post nothing: record them as empty.
  form.querySelectorAll("input[type=checkbox][name], select[multiple][name]").forEach((el) => {
    if (!SKIP.test(el.name) && !(el.name in fields)) { fields[el.name] = []; }
  });
  return fields;
}

const same = (a, b) => JSON.stringify(a || []) === JSON.stringify(b || []);

/* Which fields to fill and which were changed on both sides. */
export function threeWay(start, mine, now) {
  const fill = {};
  const conflicts = [];
  Object.keys(mine).forEach((name) => {
    if (same(mine[name], start[name])) { return; }  // the user did not touch it
    if (!same(now[name], start[name]) && !same(now[name], mine[name])) { conflicts.push(name); }
    fill[name] = mine[name];
  });
  return { fill, conflicts };
}

export function fill(form, fields) {
  Object.entries(fields).forEach(([name, values]) => {
    form.querySelectorAll(`[name='${CSS.escape(name)}']`).forEach((el) => {
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = values.includes(el.value);
      } else if (el.tagName === "SELECT" && el.multiple) {
        Array.from(el.options).forEach((o) => { o.selected = values.includes(o.value); });
      } else if (el.type !== "file") {
        el.value = values[0] === undefined ? "" : values[0];
      }
      el.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });
}

/* Read-only means read-only: every input and widget control, as on the server's read-only
   page. The values stay (disabled inputs keep them on screen; the tab keeps them stored). */
export function setReadOnly(form, readOnly) {
  form.classList.toggle("locks-readonly-form", readOnly);
  Array.from(form.elements).forEach((el) => {
    if (el.type === "hidden" || el.name === "csrfmiddlewaretoken") { return; }
    el.disabled = readOnly;
  });
  // Widget links: related-object icons, "Add another", inline delete links, date shortcuts.
  form.querySelectorAll(
    ".related-widget-wrapper-link, .add-row a, .inline-deletelink, .datetimeshortcuts a, a.add-another, a.related-lookup"
  ).forEach((link) => {
    if (readOnly) {
      link.setAttribute("aria-disabled", "true");
      link.setAttribute("tabindex", "-1");
    } else {
      link.removeAttribute("aria-disabled");
      link.removeAttribute("tabindex");
    }
  });
}

export class Keeper {
  constructor(form, key) {
    this.form = form;
    this.key = key;
    this.start = form ? snapshot(form) : {};  // what this page loaded with
  }

  dirty() {
    if (!this.form) { return false; }
    const now = snapshot(this.form);
    return Object.keys({ ...now, ...this.start }).some((name) => !same(now[name], this.start[name]));
  }

  keep() {
    if (!this.form || this.form.classList.contains("locks-readonly-form")) { return; }  // kept already
    if (!this.dirty()) { this.forget(); return; }
    const data = { guard: this.guard(), start: this.start, fields: snapshot(this.form) };
    try { sessionStorage.setItem(this.key, JSON.stringify(data)); } catch (e) { /* storage full */ }
  }

  /* The version guard's hidden inputs, as this page loaded them. */
  guard() {
    const values = {};
    GUARD.forEach((name) => {
      const input = this.form.querySelector(`[name='${name}']`);
      if (input) { values[name] = input.value; }
    });
    return values;
  }

  forget() { sessionStorage.removeItem(this.key); }

  saved() {
    try { return JSON.parse(sessionStorage.getItem(this.key) || "null"); } catch (e) { return null; }
  }

  /* Restore three-way; returns {filled, conflicts} (names). */
  restore(saved) {
    const { fill: values, conflicts } = threeWay(saved.start || {}, saved.fields || {}, this.start);
    fill(this.form, values);
    if (conflicts.length) {
      // Keep what the input was based on (version, fingerprint, base): the server's
      // version guard then shows the merge screen instead of overwriting.
      Object.entries(saved.guard || {}).forEach(([name, value]) => {
        const input = this.form.querySelector(`[name='${name}']`);
        if (input && value) { input.value = value; }
      });
    }
    this.forget();
    return { filled: Object.keys(values), conflicts };
  }
}
