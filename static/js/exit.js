// A visitor's trail in the tab's history (issue 29), on the pages a visitor sees (those with the Quick exit):
// - Moving on from a page replaces its history entry, so a visit to the site keeps one entry however many pages it
//   reads; Back leads to what was open before the site. A page whose form holds something typed is the exception:
//   Back must bring it back, so leaving it adds an entry (the Telegram help opens in place on the forms).
// - Quick exit leaves for an ordinary site and replaces the current entry, which is then the site's only one.
// Without JavaScript the links are normal links, and the Quick exit still leaves (as a normal link).
(function () {
  "use strict";

  function quickExit() {
    return document.querySelector("[data-quick-exit]");
  }

  function leave(link) {
    document.body.hidden = true;
    window.location.replace(link.href);
  }

  // Something typed or chosen in one of the page's own forms (not a search box: a form that sends), against what
  // the server wrote into it. (A form the server sent back with its errors holds what was typed as its own: Back
  // would not bring that back either, since its entry reloads the empty form.)
  function typed() {
    var fields = document.querySelectorAll("main form[method=post] :is(input, textarea, select)");
    for (var i = 0; i < fields.length; i++) {
      if (changed(fields[i])) return true;
    }
    return false;
  }

  function changed(field) {
    if (field.tagName === "SELECT") {
      var first = 0; // a select without a selected option shows its first one
      for (var i = 0; i < field.options.length; i++) {
        if (field.options[i].defaultSelected) first = i;
      }
      return field.selectedIndex !== first;
    }
    if (field.type === "hidden" || field.type === "submit") return false;
    if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
    if (field.type === "file") return Boolean(field.files && field.files.length);
    return field.value !== field.defaultValue;
  }

  function movesOn(event, link) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return false; // (htmx handled it, or a new tab or window was asked for)
    }
    if (link.origin !== window.location.origin || link.target || link.hasAttribute("download")) return false;
    var samePage = link.pathname === window.location.pathname && link.search === window.location.search;
    return !(samePage && link.hash); // an anchor on this page moves nowhere
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target : event.target.parentElement;
    var link = target && target.closest("a[href]");
    if (!link) return;
    if (link.hasAttribute("data-quick-exit")) {
      event.preventDefault();
      leave(link);
    } else if (quickExit() && movesOn(event, link) && !typed()) {
      event.preventDefault();
      window.location.replace(link.href);
    }
  });

  // Pressing Escape three times quickly also leaves.
  var presses = [];
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var link = quickExit();
    if (!link) return;
    var now = Date.now();
    presses = presses.filter(function (t) { return now - t < 1500; });
    presses.push(now);
    if (presses.length >= 3) leave(link);
  });
})();
