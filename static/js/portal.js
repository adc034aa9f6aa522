// Portico's only script: open dialogs that htmx swaps in, and close them on request.
(function () {
  function openDialogs(root) {
    root.querySelectorAll("dialog[data-modal]").forEach(function (dialog) {
      if (!dialog.open) { dialog.showModal(); }
    });
  }
  document.addEventListener("htmx:afterSettle", function (event) { openDialogs(event.detail.elt || document); });
  document.addEventListener("DOMContentLoaded", function () { openDialogs(document); });
  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      var dialog = closer.closest("dialog");
      if (dialog) { dialog.close(); dialog.remove(); }
      event.preventDefault();
    }
  });
  // Copy a shown-once secret to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) { return; }
    var field = document.getElementById(button.getAttribute("data-copy-target"));
    if (!field) { return; }
    // A form field, or any element whose text is the value (a client ID in a table).
    var value = "value" in field ? field.value : field.textContent.trim();
    if (field.select) { field.select(); } else { window.getSelection().selectAllChildren(field); }
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
  document.addEventListener("close", function (event) {
    if (event.target.matches && event.target.matches("dialog[data-modal]")) { event.target.remove(); }
  }, true);

  // --- The paste stays in the box (connection requests: Edit Credentials, Re-establish Connection,
  // New connection request). After a refused paste or a failed connection test the server answers
  // htmx with the error regions only, swapped out of band (no main swap), so the credentials box
  // keeps what the user pasted and no pasted secret travels back. The fields themselves are not
  // swapped: once the regions have settled ("paste-refused", sent by the server on the form), mark
  // each field of an error region (data-errors-for) invalid or valid again, and take the user to
  // the first wrong field. The regions are role="alert": a screen reader announces them too.
  document.addEventListener("paste-refused", function (event) {
    var form = event.target;
    var first = null;
    form.querySelectorAll("[data-errors-for]").forEach(function (region) {
      var field = document.getElementById(region.getAttribute("data-errors-for"));
      if (!field) { return; }
      if (region.hidden) {
        field.removeAttribute("aria-invalid");
      } else {
        field.setAttribute("aria-invalid", "true");
        first = first || field;
      }
    });
    if (first) { first.focus(); }
  });
  // --- end of "the paste stays in the box".
})();
