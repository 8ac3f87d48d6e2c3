/* Edit locks in the browser (an ES module; no build step).
 *
 * The browser enforces nothing: the server decides who may write, and the page reflects it
 * from one state value (lockstate.js). URLs and values come from data-* attributes. Modules:
 * transport.js (socket with HTTP fallback), lockstate.js (the state machine), banner.js (the
 * banner as a function of the state), keeping.js (unsaved input), values.js (saved values in
 * place), changeform.js (the change form), changelist.js (badges and the lock console).
 */

import { ChangeForm } from "./changeform.js";
import { ChangeList } from "./changelist.js";
import { beacon } from "./transport.js";

/* The delete confirmation: leaving without deleting releases the lock. */
function deletePage(data) {
  let submitting = false;
  document.addEventListener("submit", () => { submitting = true; }, true);
  window.addEventListener("pagehide", () => {
    if (!submitting) { beacon(data.release_url, { lease: data.lease }); }
  });
}

const banner = document.getElementById("locks-banner");
if (banner) {
  window.locksPage = new ChangeForm(banner);
  window.locksPage.start();
}
const list = document.getElementById("locks-list");
if (list) {
  window.locksList = new ChangeList(list);
  window.locksList.start();
}
const deleteData = document.getElementById("locks-page");
if (deleteData) { deletePage(JSON.parse(deleteData.textContent)); }
