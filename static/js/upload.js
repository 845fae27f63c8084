// The multi-upload: a list of chosen files with a remove button, a counter "N / MAX", the same checks as
// the server (limits and messages come from the page), and a progress bar while the form is sent.
// Without JavaScript the plain file input works.
(function () {
  "use strict";

  // What browsers report for each allowed extension ("" when they do not know: the server sniffs anyway).
  var TYPES = {
    jpg: ["image/jpeg"], jpeg: ["image/jpeg"], png: ["image/png"], webp: ["image/webp"], gif: ["image/gif"],
    heic: ["image/heic", "image/heif"], heif: ["image/heif", "image/heic"], tif: ["image/tiff"], tiff: ["image/tiff"],
    pdf: ["application/pdf"]
  };

  function formatSize(bytes) {
    if (bytes >= 1048576) return (bytes / 1048576).toFixed(1) + " MB";
    return Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function say(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }

  function setup(input) {
    if (input.dataset.ready) return;
    input.dataset.ready = "1";
    var max = Number(input.dataset.maxFiles);
    var maxBytes = Number(input.dataset.maxBytes);
    var maxTotal = Number(input.dataset.maxTotal);
    var kept = new DataTransfer();

    var counter = document.createElement("p");
    counter.className = "upload-counter";
    counter.setAttribute("aria-live", "polite");
    var list = document.createElement("ul");
    list.className = "upload-list";
    var problems = document.createElement("div");
    problems.className = "upload-problems";
    problems.setAttribute("role", "alert");
    input.after(counter, list, problems);

    function render(messages) {
      counter.textContent = kept.files.length + " / " + max;
      list.replaceChildren();
      Array.prototype.forEach.call(kept.files, function (file, index) {
        var item = document.createElement("li");
        var name = document.createElement("span");
        name.className = "upload-name";
        name.textContent = file.name;
        var size = document.createElement("span");
        size.className = "upload-size";
        size.textContent = formatSize(file.size);
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "link-button upload-remove";
        remove.textContent = "✕";
        remove.setAttribute("aria-label", say(input.dataset.msgRemove, { name: file.name }));
        remove.addEventListener("click", function () { drop(index); });
        item.append(name, size, remove);
        list.append(item);
      });
      problems.replaceChildren();
      (messages || []).forEach(function (text) {
        var p = document.createElement("p");
        p.className = "error";
        p.textContent = text;
        problems.append(p);
      });
    }

    function drop(index) {
      var next = new DataTransfer();
      Array.prototype.forEach.call(kept.files, function (file, i) { if (i !== index) next.items.add(file); });
      kept = next;
      input.files = kept.files;
      render();
    }

    input.addEventListener("change", function () {
      var messages = [];
      var total = Array.prototype.reduce.call(kept.files, function (sum, f) { return sum + f.size; }, 0);
      Array.prototype.forEach.call(input.files, function (file) {
        var extension = file.name.split(".").pop().toLowerCase();
        var duplicate = Array.prototype.some.call(kept.files, function (f) {
          return f.name === file.name && f.size === file.size && f.lastModified === file.lastModified;
        });
        if (duplicate) return;
        if (!TYPES[extension] || (file.type && TYPES[extension].indexOf(file.type) < 0)) {
          messages.push(say(input.dataset.msgType, { name: file.name }));
        } else if (file.size > maxBytes) {
          messages.push(say(input.dataset.msgTooLarge, { name: file.name }));
        } else if (kept.files.length >= max) {
          if (messages.indexOf(input.dataset.msgTooMany) < 0) messages.push(input.dataset.msgTooMany);
        } else if (total + file.size > maxTotal) {
          if (messages.indexOf(input.dataset.msgTotal) < 0) messages.push(input.dataset.msgTotal);
        } else {
          kept.items.add(file);
          total += file.size;
        }
      });
      input.files = kept.files;
      render(messages);
    });

    var form = input.form;
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
