// Quick exit: leave for an ordinary site and replace this page in the history, so that the Back button
// does not bring it back. Without JavaScript the link still leaves (as a normal link).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-quick-exit]");
    if (!link) return;
    event.preventDefault();
    document.body.hidden = true;
    window.location.replace(link.href);
  });
  // Pressing Escape three times quickly also leaves.
  var presses = [];
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var link = document.querySelector("[data-quick-exit]");
    if (!link) return;
    var now = Date.now();
    presses = presses.filter(function (t) { return now - t < 1500; });
    presses.push(now);
    if (presses.length >= 3) {
      document.body.hidden = true;
      window.location.replace(link.href);
    }
  });
})();
