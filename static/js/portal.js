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
  document.addEventListener("close", function (event) {
    if (event.target.matches && event.target.matches("dialog[data-modal]")) { event.target.remove(); }
  }, true);
})();
