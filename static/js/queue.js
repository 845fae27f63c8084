// Moderation queue: keyboard shortcuts and the side panel. Everything here is an extra: the page works without it.
(function () {
  "use strict";

  var selected = null;
  var panelHint = (document.getElementById("panel") || {}).innerHTML || "";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue-list .queue-row"));
  }

  function select(row) {
    if (!row) return;
    if (selected) selected.classList.remove("selected");
    selected = row;
    row.classList.add("selected");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var list = rows();
    if (!list.length) return;
    var index = list.indexOf(selected);
    select(list[Math.min(Math.max(index + step, 0), list.length - 1)] || list[0]);
  }

  function open(row, then) {
    var link = row && row.querySelector(".row-title");
    if (!link) return;
    htmx.ajax("GET", link.getAttribute("href"), { target: "#panel", swap: "innerHTML" }).then(then);
  }

  function approve(row) {
    // Information and contacts are taken on from the row; an ad is opened, to be read and approved there.
    var form = row && row.querySelector("form.row-actions:not(.undo)");
    if (form) form.requestSubmit();
    else if (row && row.querySelector(".row-review")) open(row);
  }

  function reject(row) {
    open(row, function () {
      var reason = document.querySelector("#panel select[name=reason]");
      if (reason) reason.focus();
    });
  }

  function clearPanel() {
    var panel = document.getElementById("panel");
    if (panel) panel.innerHTML = panelHint;
  }

  function closePanel() {
    // Give the item back at once: others need not wait for the claim to lapse.
    var close = document.querySelector("#panel [data-release]");
    if (close) htmx.ajax("POST", close.dataset.release, { source: document.body, swap: "none" });
    clearPanel();
    if (selected) selected.focus({ preventScroll: true });
  }

  function toggleHelp() {
    var help = document.getElementById("keys-help");
    var button = document.getElementById("keys-button");
    if (!help) return;
    help.hidden = !help.hidden;
    if (button) button.setAttribute("aria-expanded", String(!help.hidden));
  }

  var keys = {
    j: function () { move(1); },
    k: function () { move(-1); },
    o: function () { open(selected); },
    a: function () { approve(selected); },
    r: function () { reject(selected); },
    "?": toggleHelp,
    Escape: closePanel,
  };

  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var action = keys[event.key];
    if (!action) return;
    if (!selected && "jkoar".indexOf(event.key) >= 0) {
      select(rows()[0]);
      if (event.key === "j") { event.preventDefault(); return; }
    }
    event.preventDefault();
    action();
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    var row = target.closest && target.closest("#queue-list .queue-row");
    if (row) select(row);
    if (target.closest && target.closest("[data-close-panel]")) {
      event.preventDefault();
      closePanel();
    }
    if (target.id === "keys-button") toggleHelp();
  });

  // After a decision: close the panel and move on to the next undecided row.
  document.addEventListener("queue-changed", function () {
    clearPanel();
    var list = rows();
    var index = list.indexOf(selected);
    var next = list.slice(index + 1).find(function (row) { return !row.dataset.done; });
    if (next) select(next);
  });

  // Undo is offered only for a few seconds, as on the server.
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("form.undo[data-undo-seconds]:not([data-timer])").forEach(function (form) {
      form.setAttribute("data-timer", "1");
      setTimeout(function () { form.remove(); }, Number(form.dataset.undoSeconds) * 1000);
    });
  });
})();
