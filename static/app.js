// ProcessBench progressive enhancement. Everything works without this file; it only hides conditional
// sections that do not apply yet (fields marked data-show-if-field / data-show-if-values).
(function () {
  "use strict";
  function currentValues(form, name) {
    var out = [];
    form.querySelectorAll('[name="' + name + '"]').forEach(function (el) {
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      out.push(el.value);
    });
    return out;
  }
  function refresh(root) {
    (root || document).querySelectorAll("form").forEach(function (form) {
      form.querySelectorAll("[data-show-if-field]").forEach(function (wrap) {
        var wanted = wrap.getAttribute("data-show-if-values").split("|");
        var have = currentValues(form, wrap.getAttribute("data-show-if-field"));
        var show = have.some(function (v) { return wanted.indexOf(v) !== -1; });
        var hasError = wrap.classList.contains("has-error");
        var hide = !show && !hasError;
        wrap.classList.toggle("is-hidden", hide);
        // a hidden section's inputs are not submitted, so stale answers are not stored
        wrap.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = hide; });
      });
    });
  }
  document.addEventListener("change", function () { refresh(); });
  document.addEventListener("DOMContentLoaded", function () { refresh(); });
  document.addEventListener("htmx:afterSwap", function () { refresh(); });
  // htmx settles attributes after the swap; hide again once it has
  document.addEventListener("htmx:afterSettle", function () { refresh(); });
})();
