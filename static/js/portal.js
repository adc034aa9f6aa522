// Portico's only script: open dialogs that htmx swaps in, and close them on request; keep the
// focus where the user acts; say when an action is busy.
(function () {
  // --- Focus. A swap that removes the element holding the focus (the button of a replaced row, a
  // dialog closed by its own answer) leaves the focus on <body>: a keyboard user starts again at the
  // top of the page and a screen reader says nothing useful. So each request remembers what had
  // the focus and what it targets, and once its swap has settled, only if the focus was lost, the
  // focus goes back to where the user was (land). A dialog remembers the control that opened it.
  var requests = new WeakMap();  // xhr -> {focus, target, fromInside}
  var returnTo = null;           // the control that opened the open dialog (remember())

  function lost() { return !document.activeElement || document.activeElement === document.body; }

  // An element, told apart from its siblings so that its replacement can be found after a swap:
  // the ids around it (the row first), and what it says and where it goes.
  function remember(el) {
    if (!el || el === document.body) { return null; }
    var ids = [];
    for (var node = el; node && node !== document.body; node = node.parentElement) {
      if (node.id) { ids.push(node.id); }
    }
    return { el: el, ids: ids, tag: el.tagName, text: el.textContent.trim(), href: el.getAttribute("href"),
      action: el.form ? el.form.getAttribute("action") : null };
  }
  function sameControl(memo, el) {
    return el.tagName === memo.tag && el.textContent.trim() === memo.text && !el.disabled &&
      el.getAttribute("href") === memo.href && (el.form ? el.form.getAttribute("action") : null) === memo.action;
  }
  // The innermost element of memo.ids still in the page (the row, or the region around it).
  function nearest(memo) {
    for (var i = 0; i < memo.ids.length; i++) {
      var scope = document.getElementById(memo.ids[i]);
      if (scope) { return scope; }
    }
    return null;
  }
  // The remembered control, or the one that replaced it in its row (or region).
  function findAgain(memo) {
    if (memo.el.isConnected) { return memo.el; }
    var scope = nearest(memo);
    if (!scope) { return null; }
    return Array.prototype.find.call(scope.querySelectorAll(memo.tag), function (el) { return sameControl(memo, el); }) || null;
  }
  function isRow(el) { return el && el.matches("tr, tbody"); }
  function message() { return document.querySelector("#messages .message"); }
  function openDialog() { return document.querySelector("dialog[open]"); }
  function focusOn(el) {
    if (!el || !el.isConnected) { return false; }
    // A row or a message takes the focus only from a script (tabindex -1), never from Tab.
    if (!el.matches("a[href], button, input, select, textarea, [tabindex]")) { el.setAttribute("tabindex", "-1"); }
    el.focus();
    return document.activeElement === el;
  }
  function land(candidates) {
    var dialog = openDialog();
    // Behind an open modal dialog the page is inert: only the dialog can take the focus.
    candidates.some(function (el) { return el && (!dialog || dialog.contains(el)) && focusOn(el); });
  }
  // After a dialog went away (Cancel, Save, Done, Delete): its trigger, or the one in the updated
  // row that replaced it; the row; the message; what is left around them.
  function backFromDialog() {
    var memo = returnTo;
    returnTo = null;
    if (memo && lost()) {
      var row = nearest(memo);
      land([findAgain(memo), isRow(row) ? row : null, message(), row]);
    }
  }
  function settled(request) {
    if (returnTo && !openDialog()) { backFromDialog(); return; }
    // Nothing had the focus (a refresh while the user was elsewhere), or it is still somewhere.
    if (!request.focus || !lost()) { return; }
    var target = request.target.isConnected ? request.target : request.target.id && document.getElementById(request.target.id);
    land([
      target && target.querySelector("[aria-invalid='true']"),  // a refused form: its first wrong field
      request.fromInside && isRow(target) ? target : null,        // Renew, Approve, Reject: the row it updated
      findAgain(request.focus),       // a refresh in the background, a form refused as a whole: the same control
      openDialog() && target ? target.querySelector("a[href], button:not([disabled]), input, select, textarea") : null,
      message(),                      // a row that went away: what became of it
      nearest(request.focus),
    ]);
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var detail = event.detail;
    var target = detail.target || detail.elt;
    // A browser that does not focus a clicked button (Safari) leaves the focus on <body>: then the
    // user's click stands for it. A poll (no user event) remembers only what has the focus.
    var cause = detail.requestConfig && detail.requestConfig.triggeringEvent;
    var focused = lost() ? (cause && cause.isTrusted ? detail.elt : null) : document.activeElement;
    requests.set(detail.xhr, { focus: remember(focused), target: target,
      fromInside: target !== detail.elt && target.contains(detail.elt) });
    detail.elt.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    // The user may have moved on while the request ran (and hx-disabled-elt blurs the button).
    var request = requests.get(event.detail.xhr);
    if (request && !lost()) { request.focus = remember(document.activeElement); }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var request = requests.get(event.detail.xhr);
    if (request) { request.swapped = true; }
  });
  // Once everything of the answer is in (the events sent "after settle" too), never before.
  function later(event) {
    var request = requests.get(event.detail.xhr);
    if (request && !request.scheduled) {
      request.scheduled = true;
      window.setTimeout(function () { settled(request); }, 0);
    }
  }
  document.addEventListener("htmx:afterSettle", later);
  document.addEventListener("htmx:afterRequest", function (event) {
    event.detail.elt.removeAttribute("aria-busy");
    var request = requests.get(event.detail.xhr);
    if (request && !request.swapped) { later(event); }  // nothing swapped: nothing will settle
  });

  function openDialogs(root, request) {
    root.querySelectorAll("dialog[data-modal]").forEach(function (dialog) {
      if (!dialog.open) {
        returnTo = request ? request.focus : remember(document.activeElement);
        dialog.showModal();
      }
    });
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    openDialogs(event.detail.elt || document, requests.get(event.detail.xhr));
  });
  document.addEventListener("DOMContentLoaded", function () { openDialogs(document, null); });
  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      var dialog = closer.closest("dialog");
      if (dialog) { dialog.close(); dialog.remove(); backFromDialog(); }
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
    if (event.target.matches && event.target.matches("dialog[data-modal]")) { event.target.remove(); backFromDialog(); }
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
