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
})();
