// The multi-upload: a list of chosen files with a remove button, a counter "N / MAX", and the same checks as the
// server (limits and messages come from the page).
//
// Where the page offers resumable uploads (data-tus) and tus-js-client is there, each file is sent the moment it
// is chosen, in chunks, with its own progress bar; after a dropped connection it goes on from the last byte the
// server has. Nothing about the files is kept in the browser's storage (storeFingerprintForResuming: false): a
// resume works within the open page. A finished, cleaned file joins the form as a hidden "uploads" field, like
// the files the server kept after an error (the .kept-list the page draws). Otherwise the files go with the form,
// with one progress bar for the whole request. Without JavaScript the plain file input works.
//
// When the server will not take a file ahead (429: this connection's share or hourly bytes are used up; 503: the
// server's room for waiting files is full), that file goes with the form instead, and its row says so. A file
// already on its way that finds the room full (503 to a PATCH, after a pause) tries again later first.
//
// Once a file has arrived, the page asks the server what became of it (clean, or refused and why); an answer
// lost or garbled (a proxy's error page during a restart) is asked again, each time a little later, for as long
// as a video's cleaning may take; then the row says so and offers "Try again".
(function () {
  "use strict";

  // What browsers report for each allowed extension ("" when they do not know: the server sniffs anyway).
  var TYPES = {
    jpg: ["image/jpeg"], jpeg: ["image/jpeg"], png: ["image/png"], webp: ["image/webp"], gif: ["image/gif"],
    heic: ["image/heic", "image/heif"], heif: ["image/heif", "image/heic"], tif: ["image/tiff"], tiff: ["image/tiff"],
    pdf: ["application/pdf"]
  };
  // Each try again waits a little longer; after the last, the file offers "Try again".
  var RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000];
  var ANSWER_WAIT = 30000; // how long a file waits for the puzzle's answer on the onion before trying without
  var FINISHING_POLL = 1000; // while the server cleans a file that has arrived, ask again after this long
  var SETTLE_DELAYS = [1000, 2000, 4000, 8000, 15000, 30000]; // after a lost answer (the last repeats)...
  var SETTLE_SECONDS = 600; // ...asking for at most ten minutes in all (a video's cleaning takes a few at most)
  // The server will not take the file ahead: it goes with the form.
  function refusedAhead(code) {
    return code === 429 || code === 503;
  }

  function formatSize(bytes) {
    if (bytes >= 1048576) return (bytes / 1048576).toFixed(1) + " MB";
    return Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function say(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function extensionOf(file) {
    return file.name.split(".").pop().toLowerCase();
  }

  function allowed(input, file) {
    var types = (input.dataset.types ? JSON.parse(input.dataset.types) : TYPES)[extensionOf(file)];
    return types && (!file.type || types.indexOf(file.type) >= 0);
  }

  // Videos and recordings have limits of their own (the extensions the page allows that are not TYPES' own).
  function isMedia(file) {
    return !TYPES[extensionOf(file)];
  }

  function setup(input) {
    if (input.dataset.ready) return;
    input.dataset.ready = "1";
    var form = input.form;
    var max = Number(input.dataset.maxFiles);
    var maxBytes = Number(input.dataset.maxBytes);
    var maxTotal = Number(input.dataset.maxTotal);
    var maxMedia = Number(input.dataset.media || 0);
    var maxMediaTotal = Number(input.dataset.mediaTotal || 0);
    var resumable = Boolean(input.dataset.tus && window.tus && window.tus.isSupported);
    var kept = new DataTransfer(); // the files that go with the form (all of them on the plain path)
    var sending = []; // the resumable path: {file, upload, row, state}; state "plain": it goes with the form
    var sendWhenReady = function () {};

    var counter = element("p", "upload-counter");
    counter.setAttribute("aria-live", "polite");
    var list = element("ul", "upload-list");
    var problems = element("div", "upload-problems");
    problems.setAttribute("role", "alert");
    input.after(counter, list, problems);

    function received() { // files the server already holds for this form (drawn by the page)
      return form.querySelectorAll(".kept-list li").length;
    }

    function count() {
      return received() + (resumable ? sending.length : kept.files.length);
    }

    function bytes(media) {
      var files = resumable ? sending.map(function (s) { return s.file; }) : Array.prototype.slice.call(kept.files);
      return files.filter(function (f) { return isMedia(f) === media; })
        .reduce(function (sum, f) { return sum + f.size; }, 0);
    }

    function showProblems(messages) {
      problems.replaceChildren();
      (messages || []).forEach(function (text) { problems.append(element("p", "error", text)); });
    }

    function render() {
      counter.textContent = count() + " / " + max;
      if (resumable) return; // each sending file keeps its own row
      list.replaceChildren();
      Array.prototype.forEach.call(kept.files, function (file, index) {
        var item = element("li");
        item.append(element("span", "upload-name", file.name), element("span", "upload-size", formatSize(file.size)),
          removeButton(file.name, function () { drop(index); }));
        list.append(item);
      });
    }

    function removeButton(name, onClick) {
      var remove = element("button", "link-button upload-remove", "✕");
      remove.type = "button";
      remove.setAttribute("aria-label", say(input.dataset.msgRemove, { name: name }));
      remove.addEventListener("click", onClick);
      return remove;
    }

    function drop(index) {
      var next = new DataTransfer();
      Array.prototype.forEach.call(kept.files, function (file, i) { if (i !== index) next.items.add(file); });
      kept = next;
      input.files = kept.files;
      render();
    }

    // --- the resumable path ---

    function send(file) {
      var entry = { file: file, state: "sending" };
      var row = element("li", "sending");
      var bar = element("progress", "file-progress");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", file.name);
      var status = element("span", "file-status", say(input.dataset.msgFileSending, { percent: 0 }));
      status.setAttribute("aria-live", "polite");
      var retry = element("button", "link-button file-retry", input.dataset.msgRetry);
      retry.type = "button";
      retry.hidden = true;
      row.append(element("span", "upload-name", file.name), element("span", "upload-size", formatSize(file.size)),
        bar, status, retry, removeButton(file.name, function () { forget(entry); }));
      list.append(row);
      entry.row = row;
      entry.upload = new window.tus.Upload(file, {
        endpoint: input.dataset.tus,
        chunkSize: Number(input.dataset.chunk),
        retryDelays: RETRY_DELAYS,
        storeFingerprintForResuming: false,
        removeFingerprintOnSuccess: true,
        metadata: { filename: file.name },
        headers: { "X-CSRFToken": form.querySelector("input[name=csrf_token]").value },
        onProgress: function (sent, total) {
          var percent = total ? Math.floor((sent / total) * 100) : 0;
          bar.value = percent;
          status.textContent = say(input.dataset.msgFileSending, { percent: percent });
        },
        onShouldRetry: function (error) {
          // A broken connection, a failing server, or a disagreement on the offset: ask the server where to go on
          // from (HEAD) and send the rest. A refusal (too large, too many, gone; or not ahead of the form) is final.
          var code = error.originalResponse ? error.originalResponse.getStatus() : 0;
          var method = error.originalRequest ? error.originalRequest.getMethod() : "";
          var roomLater = code === 503 && method === "PATCH"; // its room was taken during a pause: it comes back
          var again = roomLater || (!refusedAhead(code) && (!code || code >= 500 || code === 409 || code === 423));
          if (again) {
            status.textContent = input.dataset.msgFileRetrying;
            row.classList.add("retrying");
          }
          return again;
        },
        onError: function (error) {
          if (error.originalResponse && refusedAhead(error.originalResponse.getStatus())) {
            withForm(entry, status, bar);
            return;
          }
          entry.state = "failed";
          row.classList.remove("retrying");
          row.classList.add("failed");
          var answer = error.originalResponse && error.originalResponse.getBody();
          status.textContent = answer || input.dataset.msgFileFailed;
          retry.hidden = Boolean(answer); // a refusal (too large, too many) is not fixed by trying again
          sendWhenReady();
        },
        onSuccess: function () { settle(entry, status, bar); }
      });
      entry.retry = retry;
      retry.addEventListener("click", function () {
        retry.hidden = true;
        entry.state = "sending";
        row.classList.remove("failed");
        if (entry.unsettled) { // it arrived: ask again what became of it
          entry.unsettled = false;
          settle(entry, status, bar);
        } else {
          entry.upload.start(); // goes on from the offset the server reports
        }
      });
      sending.push(entry);
      whenAnswered(entry);
    }

    // On the onion a file goes ahead only with the form's answer to the puzzle (app/proof.py): it starts once the
    // answer is found, or once the page gives up finding one, or after a while (the server then refuses it, and it
    // goes with the form). A file removed meanwhile never starts.
    function whenAnswered(entry) {
      var pow = form.querySelector("input[data-pow]");
      var started = false;
      function begin() {
        if (started || sending.indexOf(entry) === -1) return;
        started = true;
        if (pow) entry.upload.options.headers["X-Prystan-Pow"] = pow.value;
        entry.upload.start();
      }
      if (!("powAhead" in input.dataset) || !pow || pow.value || pow.dataset.powFailed) {
        begin();
        return;
      }
      pow.addEventListener("pow-solved", begin, { once: true });
      pow.addEventListener("pow-failed", begin, { once: true });
      window.setTimeout(begin, ANSWER_WAIT);
    }

    // The resumable path refused this file: it goes with the form (what reached the server is deleted there).
    function withForm(entry, status, bar) {
      if (entry.upload.url) entry.upload.abort(true).catch(function () {});
      entry.state = "plain";
      entry.row.classList.remove("sending", "retrying", "failed");
      entry.row.classList.add("plain");
      bar.remove();
      status.textContent = input.dataset.msgFilePlain;
      kept.items.add(entry.file);
      input.files = kept.files;
      sendWhenReady();
    }

    function settle(entry, status, bar) {
      entry.asked = entry.asked || { since: Date.now(), lost: 0 };
      fetch(entry.upload.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
          if (!response.ok || !json) throw new Error("no answer: " + response.status);
          return response.json();
        })
        .then(function (result) {
          // Still being cleaned (its last PATCH's answer was lost, and the HEAD that followed found it whole).
          if (result.state === "finishing") {
            askAgain(entry, status, bar, FINISHING_POLL);
            return;
          }
          entry.asked = null;
          concluded(entry, status, bar, result);
        })
        .catch(function () { // a lost or garbled answer: asked again, each time a little later
          entry.row.classList.add("retrying");
          askAgain(entry, status, bar, SETTLE_DELAYS[Math.min(entry.asked.lost++, SETTLE_DELAYS.length - 1)]);
        });
    }

    function askAgain(entry, status, bar, delay) {
      if (Date.now() - entry.asked.since < SETTLE_SECONDS * 1000) {
        setTimeout(function () { settle(entry, status, bar); }, delay);
        return;
      }
      entry.asked = null; // no answer for too long: the person decides, with "Try again"
      entry.state = "failed";
      entry.unsettled = true;
      entry.row.classList.remove("sending", "retrying");
      entry.row.classList.add("failed");
      status.textContent = input.dataset.msgFileUnsettled;
      entry.retry.hidden = false;
      sendWhenReady();
    }

    function concluded(entry, status, bar, result) {
      entry.row.classList.remove("sending", "retrying");
      if (result.state === "clean") {
        entry.state = "done";
        bar.value = 100;
        status.textContent = input.dataset.msgFileDone;
        entry.row.classList.add("done");
        var field = element("input");
        field.type = "hidden";
        field.name = "uploads";
        field.value = result.id;
        entry.row.append(field);
      } else {
        entry.state = "failed";
        entry.row.classList.add("failed");
        status.textContent = (result.messages || []).join(" ");
      }
      sendWhenReady();
    }

    function forget(entry) {
      if (entry.state === "plain") {
        var next = new DataTransfer();
        Array.prototype.forEach.call(kept.files, function (f) { if (f !== entry.file) next.items.add(f); });
        kept = next;
        input.files = kept.files;
      } else if (entry.upload) {
        entry.upload.abort(true).catch(function () {}); // true: DELETE it on the server too
      }
      entry.row.remove();
      sending = sending.filter(function (s) { return s !== entry; });
      render();
    }

    function busy() {
      return sending.some(function (s) { return s.state === "sending"; });
    }

    // --- choosing ---

    input.addEventListener("change", function () {
      var messages = [];
      var totals = { false: bytes(false), true: bytes(true) };
      var chosen = Array.prototype.slice.call(input.files);
      var taken = resumable ? sending.map(function (s) { return s.file; }) : Array.prototype.slice.call(kept.files);
      var added = [];
      chosen.forEach(function (file) {
        var duplicate = taken.concat(added).some(function (f) {
          return f.name === file.name && f.size === file.size && f.lastModified === file.lastModified;
        });
        if (duplicate) return;
        var media = isMedia(file);
        var totalMessage = media ? input.dataset.msgMediaTotal : input.dataset.msgTotal;
        if (!allowed(input, file)) {
          messages.push(say(input.dataset.msgType, { name: file.name }));
        } else if (file.size > (media ? maxMedia : maxBytes)) {
          messages.push(say(media ? input.dataset.msgMediaTooLarge : input.dataset.msgTooLarge, { name: file.name }));
        } else if (count() + added.length >= max) {
          if (messages.indexOf(input.dataset.msgTooMany) < 0) messages.push(input.dataset.msgTooMany);
        } else if (totals[media] + file.size > (media ? maxMediaTotal : maxTotal)) {
          if (messages.indexOf(totalMessage) < 0) messages.push(totalMessage);
        } else {
          added.push(file);
          totals[media] += file.size;
        }
      });
      if (resumable) {
        added.forEach(send);
        input.files = kept.files; // sent already: not again with the form (but those refused ahead of it)
      } else {
        added.forEach(function (file) { kept.items.add(file); });
        input.files = kept.files;
      }
      render();
      showProblems(messages);
    });

    // Sent while files are still on their way, the form waits for them and then goes by itself (a remove button
    // of a kept file still works at once).
    var submitter = null;
    var waiting = null;
    form.addEventListener("click", function (event) { submitter = event.target.closest("button"); });
    function hold(event) {
      if (!busy() || (submitter && submitter.name === "remove_upload")) return;
      event.preventDefault();
      waiting = submitter || form;
      showProblems([input.dataset.msgWait]);
    }
    sendWhenReady = function () {
      if (!waiting || busy()) return;
      var button = waiting === form ? undefined : waiting;
      waiting = null;
      if (sending.some(function (s) { return s.state === "failed"; })) return; // the person decides: retry or remove
      showProblems([]);
      form.requestSubmit(button);
    };
    form.addEventListener("submit", hold);
    form.addEventListener("htmx:beforeRequest", hold);

    var progress = form.querySelector(".upload-progress");
    var status = form.querySelector(".upload-status");
    form.addEventListener("htmx:xhr:progress", function (event) {
      if (!event.detail.total || !kept.files.length) return;
      var percent = Math.round((event.detail.loaded / event.detail.total) * 100);
      progress.hidden = false;
      progress.value = percent;
      status.textContent = say(input.dataset.msgUploading, { percent: percent });
    });
    render();
  }

  function init(root) {
    (root || document).querySelectorAll("input[type=file][data-max-files]").forEach(setup);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();
