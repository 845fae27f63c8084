// Passkeys and security keys (WebAuthn). A form marked data-webauthn carries the server's options as JSON:
// data-get-options (sign with a key already registered) and/or data-create-options (register a new one). On
// submit the browser asks the key(s), and the answers go in the form's hidden fields "assertion" and
// "credential" as the JSON the server's library reads; then the form is sent as usual. Nothing else is sent.
(function () {
  "use strict";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(binary, function (c) { return c.charCodeAt(0); }).buffer;
  }

  function toText(buffer) {
    var binary = "";
    new Uint8Array(buffer).forEach(function (b) { binary += String.fromCharCode(b); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBytes(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: toBytes(c.id) }); });
  }

  function requestOptions(json) {
    var options = JSON.parse(json);
    options.challenge = toBytes(options.challenge);
    options.allowCredentials = withBytes(options.allowCredentials);
    return options;
  }

  function creationOptions(json) {
    var options = JSON.parse(json);
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    options.excludeCredentials = withBytes(options.excludeCredentials);
    return options;
  }

  function assertion(credential) {
    var r = credential.response;
    return JSON.stringify({
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      response: {
        clientDataJSON: toText(r.clientDataJSON), authenticatorData: toText(r.authenticatorData),
        signature: toText(r.signature), userHandle: r.userHandle ? toText(r.userHandle) : null
      },
      clientExtensionResults: credential.getClientExtensionResults()
    });
  }

  function attestation(credential) {
    var r = credential.response;
    return JSON.stringify({
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      response: {
        clientDataJSON: toText(r.clientDataJSON), attestationObject: toText(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : []
      },
      clientExtensionResults: credential.getClientExtensionResults()
    });
  }

  async function answer(form) {
    if (form.dataset.getOptions) {
      var got = await navigator.credentials.get({ publicKey: requestOptions(form.dataset.getOptions) });
      form.querySelector("input[name$='assertion']").value = assertion(got);
    }
    if (form.dataset.createOptions) {
      var made = await navigator.credentials.create({ publicKey: creationOptions(form.dataset.createOptions) });
      form.querySelector("input[name$='credential']").value = attestation(made);
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-webauthn]");
    if (!form) return;
    event.preventDefault();
    var status = form.querySelector(".webauthn-status");
    var button = form.querySelector("button[type=submit]");
    if (!window.PublicKeyCredential) {
      status.textContent = form.dataset.error;
      status.hidden = false;
      return;
    }
    button.disabled = true;
    status.hidden = true;
    answer(form).then(function () {
      form.submit();
    }, function () {
      status.textContent = form.dataset.error;
      status.hidden = false;
      button.disabled = false;
    });
  });
})();
