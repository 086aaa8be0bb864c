// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  // Trash icon in the Enriched Log Types editor: remove the row from the form (saved on "Save").
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("[data-remove-row]") : null;
    if (!btn) { return; }
    ev.preventDefault();
    var row = btn.closest("tr");
    if (row) { row.parentNode.removeChild(row); }
  });
  // Confirm destructive forms.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { ev.preventDefault(); }
  });
})();
