/* Saved values in place: read-only fields and inline rows show what was just saved, changed
 * cells highlighted. Inputs the user is typing in are never overwritten.
 */

export function flash(el) {
  el.classList.add("locks-changed");
  setTimeout(() => el.classList.remove("locks-changed"), 4000);
}

/* The read-only value of the record's field `name`: the server marks each one
   (<span data-locks-field="name"> inside the skin's value box, locks/admin/markers.py); a
   page rendered without the marks falls back to the rows of Django's admin (.form-row,
   .fieldBox), jazzmin's (.form-group) and grappelli's (.grp-row). Returns [text, box]. */
function readonlyValue(name) {
  const n = CSS.escape(name);
  const marked = document.querySelector(`[data-locks-field="${n}"]`);
  if (marked) { return [marked, marked.parentElement || marked]; }
  const cell = document.querySelector(`.field-${n} .readonly, .grp-row.${n} .grp-readonly`);
  return [cell, cell];
}

/* Returns true when a saved value concerns an input on this page (the user's own input). */
export function applyValues(values) {
  let inputs = false;
  Object.entries(values).forEach(([name, value]) => {
    const n = CSS.escape(name);
    const [target, box] = readonlyValue(name);
    if (target) {
      const text = value || "-";
      if (target.textContent !== text) { target.textContent = text; flash(box); }
    } else if (document.querySelector(`#id_${n}`)) {
      inputs = true;  // never overwrite what this user typed
    }
  });
  return inputs;
}

function rowPk(row, prefix) {
  const id = row.querySelector(`input[type=hidden][name^='${CSS.escape(prefix)}-'][name$='-id']`);
  return id ? id.value : row.dataset.locksPk || null;
}

function setCell(cell, value, highlight) {
  const target = cell.querySelector("[data-locks-field]") || cell.querySelector("p") || cell;
  const text = value === null || value === undefined || value === "" ? "-" : String(value);
  if (target.textContent !== text) {
    target.textContent = text;
    if (highlight) { flash(cell); }
  }
}

function newRow(table, fields, row) {
  const tr = document.createElement("tr");
  tr.className = "form-row has_original locks-live-row";
  tr.dataset.locksPk = row.pk;
  const head = table.querySelector("thead tr");
  // Keep the table's columns: an "original" cell first when the table has one.
  if (table.querySelector("td.original")) { tr.appendChild(Object.assign(document.createElement("td"), { className: "original" })); }
  fields.forEach((name) => {
    const td = document.createElement("td");
    td.className = `field-${name}`;
    td.appendChild(document.createElement("p"));
    tr.appendChild(td);
  });
  const cols = head ? head.children.length : 0;
  while (cols && tr.children.length < cols) { tr.appendChild(document.createElement("td")); }
  return tr;
}

/* The saved rows shown in an inline group: pk -> the row's form index, read from the rows'
   hidden id inputs (every skin renders them). */
function rowIndexes(group, prefix) {
  const indexes = new Map();
  group.querySelectorAll(`input[type=hidden][name^='${CSS.escape(prefix)}-'][name$='-id']`).forEach((input) => {
    const index = input.name.slice(prefix.length + 1, -"-id".length);
    if (input.value && /^\d+$/.test(index)) { indexes.set(input.value, index); }
  });
  return indexes;
}

/* A skin whose inline rows are not Django's table rows (unfold, grappelli): update the saved
   rows' marked values in place (<span data-locks-field="prefix-N-name">); rows added or
   removed show on the next load. */
function applyMarkedRows(inline, indexes) {
  inline.rows.forEach((row) => {
    const index = indexes.get(String(row.pk));
    if (index === undefined) { return; }
    inline.fields.forEach((name) => {
      const marked = document.querySelector(`[data-locks-field="${CSS.escape(`${inline.prefix}-${index}-${name}`)}"]`);
      if (marked) { setCell(marked.parentElement || marked, row.values[name], true); }
    });
  });
}

/* Inline rows after a save (SPEC "Record events: inline rows"): update changed cells, add new
   rows, remove rows no longer listed. Only read-only (viewer) tables are touched. */
export function applyInlines(inlines) {
  inlines.forEach((inline) => {
    const group = document.getElementById(`${inline.prefix}-group`);
    if (!group || group.querySelector(`input[name^='${CSS.escape(inline.prefix)}-'][type=text]:not([disabled])`)) { return; }
    const body = group.querySelector("table tbody");
    const rows = body ? Array.from(body.querySelectorAll("tr.form-row:not(.empty-form)")) : [];
    const byPk = new Map();
    rows.forEach((tr) => { const pk = rowPk(tr, inline.prefix); if (pk) { byPk.set(String(pk), tr); } });
    const indexes = rowIndexes(group, inline.prefix);
    if (!body || Array.from(indexes.keys()).some((pk) => !byPk.has(pk))) {
      applyMarkedRows(inline, indexes);
      return;
    }
    const wanted = new Set(inline.rows.map((r) => String(r.pk)));
    byPk.forEach((tr, pk) => { if (!wanted.has(pk)) { tr.remove(); } });
    let previous = null;
    inline.rows.forEach((row) => {
      let tr = byPk.get(String(row.pk));
      const added = !tr;
      if (added) { tr = newRow(body.closest("table"), inline.fields, row); }
      inline.fields.forEach((name) => {
        const cell = tr.querySelector(`td.field-${CSS.escape(name)}`);
        if (cell) { setCell(cell, row.values[name], !added); }
      });
      if (added) {
        if (previous) { previous.after(tr); } else { body.prepend(tr); }
        flash(tr);
      }
      previous = tr;
    });
  });
}
