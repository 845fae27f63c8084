// Proof of work for the public forms (ALTCHA v1, self-hosted): fetch a signed challenge from this site,
// find n with SHA-256(salt + n) = challenge, and put the answer in the form's hidden "altcha" field.
// Without JavaScript (or before the answer is found) the form still works, under a stricter limit.
(function () {
  "use strict";

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  async function solve(challenge) {
    var encoder = new TextEncoder();
    for (var n = 0; n <= challenge.maxnumber; n++) {
      var digest = await crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + n));
      if (hex(digest) === challenge.challenge) return n;
    }
    return null;
  }

  // No answer will come (no SHA-256 here, no challenge, none found): what waits for one goes on without it.
  function failed(input) {
    input.dataset.powFailed = "1";
    input.dispatchEvent(new Event("pow-failed", { bubbles: true }));
  }

  async function start(input) {
    if (input.dataset.powStarted) return;
    input.dataset.powStarted = "1";
    if (!window.crypto || !crypto.subtle) {
      failed(input);
      return;
    }
    try {
      var response = await fetch(input.dataset.pow, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) {
        failed(input);
        return;
      }
      var challenge = await response.json();
      var number = await solve(challenge);
      if (number === null) {
        failed(input);
        return;
      }
      input.value = btoa(JSON.stringify({
        algorithm: challenge.algorithm, challenge: challenge.challenge, number: number,
        salt: challenge.salt, signature: challenge.signature
      }));
      input.dispatchEvent(new Event("pow-solved", { bubbles: true }));
    } catch (error) {
      failed(input); // no answer: the form is sent without one
    }
  }

  function init(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("input[data-pow]").forEach(start);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();
