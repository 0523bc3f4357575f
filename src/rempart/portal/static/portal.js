// rempart portal: passkey ceremonies (WebAuthn) for buttons marked data-webauthn.
// Vendored, no dependency; loaded with `defer` under a CSP that forbids inline script.
(function () {
  "use strict";

  function b64urlToBuffer(text) {
    var padded = text.replace(/-/g, "+").replace(/_/g, "/");
    while (padded.length % 4) { padded += "="; }
    var raw = atob(padded), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function bufferToB64url(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // Options arrive as JSON (base64url for binary fields); browsers without the
  // parse*FromJSON helpers get the conversion by hand.
  function creationOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    var o = Object.assign({}, json);
    o.challenge = b64urlToBuffer(json.challenge);
    o.user = Object.assign({}, json.user, { id: b64urlToBuffer(json.user.id) });
    o.excludeCredentials = (json.excludeCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: b64urlToBuffer(c.id) });
    });
    return o;
  }

  function requestOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    var o = Object.assign({}, json);
    o.challenge = b64urlToBuffer(json.challenge);
    o.allowCredentials = (json.allowCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: b64urlToBuffer(c.id) });
    });
    return o;
  }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") { return credential.toJSON(); }
    var r = credential.response, out = {
      id: credential.id, rawId: bufferToB64url(credential.rawId), type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(), response: {
        clientDataJSON: bufferToB64url(r.clientDataJSON) } };
    if (r.attestationObject) {
      out.response.attestationObject = bufferToB64url(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    } else {
      out.response.authenticatorData = bufferToB64url(r.authenticatorData);
      out.response.signature = bufferToB64url(r.signature);
      if (r.userHandle) { out.response.userHandle = bufferToB64url(r.userHandle); }
    }
    return out;
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          var message = data && data.error && data.error.message;
          throw new Error(message || ("HTTP " + response.status));
        }
        return data;
      });
    });
  }

  function showRecoveryCodes(codes, next) {
    var section = document.getElementById("recovery-section");
    var list = document.getElementById("recovery-list");
    if (!section || !list) { return false; }
    list.textContent = "";
    codes.forEach(function (code) {
      var item = document.createElement("li"), text = document.createElement("code");
      text.textContent = code;
      item.appendChild(text);
      list.appendChild(item);
    });
    document.getElementById("recovery-continue").setAttribute("href", next);
    var passkeySection = document.getElementById("enrol-passkey-section");
    if (passkeySection) { passkeySection.hidden = true; }
    section.hidden = false;
    document.getElementById("recovery-heading").focus();
    return true;
  }

  function run(button) {
    var kind = button.getAttribute("data-webauthn");
    var status = button.parentElement.querySelector("[data-webauthn-status]");
    var say = function (key, detail) {
      if (status) {
        status.textContent = (status.getAttribute("data-msg-" + key) || key) + (detail ? " (" + detail + ")" : "");
      }
    };
    if (!window.PublicKeyCredential || !navigator.credentials) { say("unsupported"); return; }
    button.disabled = true;
    say("working");
    post(button.getAttribute("data-begin")).then(function (begin) {
      var ask = kind === "register"
        ? navigator.credentials.create({ publicKey: creationOptions(begin.options) })
        : navigator.credentials.get({ publicKey: requestOptions(begin.options) });
      return ask.then(function (credential) {
        var body = { ceremony_id: begin.ceremony_id, credential: credentialJSON(credential) };
        var labelInput = document.getElementById(button.getAttribute("data-label-input") || "");
        if (labelInput) { body.label = labelInput.value; }
        if (button.getAttribute("data-next")) { body.next = button.getAttribute("data-next"); }
        return post(button.getAttribute("data-finish"), body);
      });
    }).then(function (done) {
      if (done.recovery_codes && done.recovery_codes.length && showRecoveryCodes(done.recovery_codes, done.next)) {
        if (status) { status.textContent = ""; }
        return;
      }
      window.location.assign(done.next);
    }).catch(function (error) {
      button.disabled = false;
      if (error && error.name === "NotAllowedError") { say("cancelled"); }
      else { say("failed", error && error.message); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-webauthn]"), function (button) {
      button.addEventListener("click", function () { run(button); });
    });
    var focusTarget = document.getElementById("answer-heading") || document.getElementById("claim-heading");
    if (focusTarget) { focusTarget.focus(); }
  });
})();
