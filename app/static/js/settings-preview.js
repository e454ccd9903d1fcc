/*
 * The live preview on a site settings page (cabinet and back office): hand-written, no build step.
 *
 * As the user types, the form's current (unsaved) values are posted to the panel's data-preview-url
 * (debounced); the server checks them as saving would, stores nothing, and answers with the widget's
 * configuration, which window.CallBack.preview (from /widget.js loaded with data-preview) draws inside
 * the panel. Invalid values answer 422: the panel then asks to fix the errors. Texts come from the
 * panel's data-msg-* attributes, so they are translated with the page.
 */
(function () {
  "use strict";

  var DELAY_MS = 300;
  var panel = document.getElementById("settings-preview");
  var form = document.querySelector("form.schema-form");
  if (!panel || !form) {
    return;
  }
  var stage = panel.querySelector("[data-preview-stage]");
  var status = panel.querySelector("[data-preview-status]");
  var timer = null;
  var latest = 0;

  function say(state) {
    var text = state === "ready" ? "" : panel.getAttribute("data-msg-" + state) || "";
    panel.setAttribute("data-state", state);
    if (status.textContent !== text) {
      status.textContent = text;
    }
  }

  function widget() {
    var api = window.CallBack;
    return api && typeof api.preview === "function" ? api : null;
  }

  function clear() {
    stage.replaceChildren();
  }

  // A fresh host each time: the widget draws into its own element (with a shadow root) inside it.
  function draw(config) {
    var api = widget();
    clear();
    if (!api) {
      say("unavailable");
      return;
    }
    var host = document.createElement("div");
    host.className = "settings-preview-host";
    stage.appendChild(host);
    api.preview(config, host);
    say(host.childElementCount ? "ready" : "unavailable");
  }

  function answered(request, response) {
    return response.json().then(function (body) {
      if (request !== latest) {
        return; // a later change is on its way
      }
      if (response.ok) {
        draw(body);
      } else if (response.status === 422) {
        clear();
        say("invalid");
      } else {
        say("failed");
      }
    });
  }

  function refresh() {
    timer = null;
    var request = ++latest;
    if (!widget()) {
      clear();
      say("unavailable");
      return;
    }
    window.fetch(panel.getAttribute("data-preview-url"), {
      method: "POST",
      body: new FormData(form), // includes the form's csrf_token
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (response) {
      return answered(request, response);
    }).catch(function () {
      if (request === latest) {
        say("failed");
      }
    });
  }

  function later() {
    if (timer !== null) {
      window.clearTimeout(timer);
    }
    timer = window.setTimeout(refresh, DELAY_MS);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);
  say("loading");
  refresh();
}());
