// Passkey ceremonies for Limen's pages (CSP default-src 'self': no inline script, so the pages carry
// their options as data and this file does the rest).
//
// Each widget is an element with:
//   data-webauthn="create" | "get"   which ceremony (navigator.credentials.create / get)
//   data-webauthn-options="{...}"    py_webauthn's options JSON (base64url for challenge, ids, user.id)
//   data-webauthn-autostart          (optional) start on page load instead of waiting for the button
// and, inside it:
//   [data-webauthn-start]            the button that starts the ceremony
//   [data-webauthn-status]           where messages go (role="alert")
//   [data-webauthn-support]          hidden until the browser is known to support passkeys (may be the
//                                    widget itself: the whole thing stays hidden without support)
// The widget's form gets the JSON result in its input named "credential" and is submitted.
"use strict";

(function () {
  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      return { type: c.type, id: toBytes(c.id), transports: c.transports };
    });
  }

  // Browsers since 2024 parse the JSON form themselves; older ones need the buffers made by hand.
  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    var o = Object.assign({}, json);
    o.challenge = toBytes(json.challenge);
    o.user = Object.assign({}, json.user, { id: toBytes(json.user.id) });
    o.excludeCredentials = descriptors(json.excludeCredentials);
    return o;
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    var o = Object.assign({}, json);
    o.challenge = toBytes(json.challenge);
    o.allowCredentials = descriptors(json.allowCredentials);
    return o;
  }

  // The JSON py_webauthn verifies: ids and every buffer as base64url.
  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") return cred.toJSON();
    var r = cred.response;
    var response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) response.userHandle = toB64url(r.userHandle);
    }
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: response,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
    };
  }

  function explain(error, ceremony) {
    switch (error && error.name) {
      case "NotAllowedError":
        return "The passkey request was cancelled or timed out. Select the button to try again.";
      case "AbortError":
        return "The passkey request was cancelled. Select the button to try again.";
      case "InvalidStateError":
        return ceremony === "create"
          ? "This device or security key already holds a passkey for your account. Use another one."
          : "Your passkey couldn't be used. Try again.";
      case "SecurityError":
        return "Your browser won't use passkeys on this address. Open this page at its https:// address.";
      case "NotSupportedError":
        return "This device can't make a passkey with a PIN or biometric check. Try another device or security key.";
      case "SyntaxError":
        return "This page is missing its passkey details. Reload it and try again.";
      default:
        return "Your browser couldn't use a passkey" + (error && error.name ? " (" + error.name + ")" : "") + ". Try again.";
    }
  }

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials && window.isSecureContext);
  }

  function setUp(widget) {
    // A page may include this script more than once (several partials); set each widget up once.
    if (widget.hasAttribute("data-webauthn-ready")) return;
    widget.setAttribute("data-webauthn-ready", "");
    var ceremony = widget.getAttribute("data-webauthn");
    var form = widget.closest("form");
    var status = widget.querySelector("[data-webauthn-status]");
    var start = widget.querySelector("[data-webauthn-start]");
    var busy = false;

    function say(text) {
      if (!status) return;
      status.textContent = text;
      status.hidden = !text;
    }

    var gated = Array.prototype.slice.call(widget.querySelectorAll("[data-webauthn-support]"));
    if (widget.hasAttribute("data-webauthn-support")) gated.push(widget);
    gated.forEach(function (el) {
      el.hidden = !supported();
    });
    if (!supported()) {
      say("This browser can't use passkeys here. Use another way to sign in, or another browser.");
      return;
    }
    if (!form || !start) return;

    function run() {
      if (busy) return;
      busy = true;
      start.disabled = true;
      say("");
      // Everything inside the promise, so a page or browser error lands in the same message path.
      Promise.resolve()
        .then(function () {
          var options = JSON.parse(widget.getAttribute("data-webauthn-options"));
          return ceremony === "create"
            ? navigator.credentials.create({ publicKey: creationOptions(options) })
            : navigator.credentials.get({ publicKey: requestOptions(options) });
        })
        .then(function (cred) {
          if (!cred) throw { name: "NotAllowedError" };
          form.elements.namedItem("credential").value = JSON.stringify(credentialJSON(cred));
          say("Checking your passkey…");
          form.submit();
        })
        .catch(function (error) {
          busy = false;
          start.disabled = false;
          say(explain(error, ceremony));
        });
    }

    start.addEventListener("click", function (event) {
      event.preventDefault();
      run();
    });
    if (widget.hasAttribute("data-webauthn-autostart")) run();
  }

  function init() {
    document.querySelectorAll("[data-webauthn]").forEach(setUp);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
