/*
 * The copy button of the install page: copies the text of the element its data-copy-target names (an id).
 * Hand-written, no build step, no inline script (the site's CSP allows scripts from 'self' only). The button's
 * data-msg-copied / data-msg-failed attributes carry its translated answers.
 */
(function () {
  "use strict";

  function answer(button, key) {
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    if (status) {
      status.textContent = button.getAttribute("data-msg-" + key) || "";
    }
  }

  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source || !navigator.clipboard) {
      answer(button, "failed");
      return;
    }
    navigator.clipboard.writeText(source.textContent).then(
      function () { answer(button, "copied"); },
      function () { answer(button, "failed"); }
    );
  }

  var buttons = document.querySelectorAll("[data-copy-target]");
  for (var i = 0; i < buttons.length; i += 1) {
    buttons[i].hidden = false;
    buttons[i].addEventListener("click", function (event) { copy(event.currentTarget); });
  }
}());
