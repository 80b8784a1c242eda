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
// Error summary: a link focuses its field (not only scrolls to it). Long linked-record lists get a search box.
// On a phone the dashboard's clause groups start collapsed, except the first.
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a[data-focus]") : null;
    if (!a) return;
    var el = document.getElementById(a.getAttribute("data-focus"));
    if (!el) return;
    ev.preventDefault();
    var wrap = el.closest(".is-hidden");
    if (wrap) wrap.classList.remove("is-hidden");
    el.focus();
    el.scrollIntoView({block: "center"});
  });
  function searchable(root) {
    (root || document).querySelectorAll("select[data-searchable]").forEach(function (sel) {
      if (sel.dataset.enhanced) return;
      sel.dataset.enhanced = "1";
      var box = document.createElement("input");
      box.type = "search";
      box.className = "link-search";
      box.setAttribute("aria-label", sel.getAttribute("data-searchable"));
      box.placeholder = sel.getAttribute("data-searchable");
      sel.parentNode.insertBefore(box, sel);
      box.addEventListener("input", function () {
        var q = box.value.toLowerCase();
        Array.prototype.forEach.call(sel.options, function (o, i) {
          if (i === 0) return;
          o.hidden = q && o.text.toLowerCase().indexOf(q) === -1;
        });
      });
    });
  }
  function collapse() {
    if (window.matchMedia && window.matchMedia("(max-width: 600px)").matches) {
      document.querySelectorAll("details.clause-group").forEach(function (d, i) { if (i > 0) d.open = false; });
    }
  }
  function focusableScrollers() {  // a region that scrolls sideways must be reachable by keyboard
    document.querySelectorAll(".table-scroll:not([tabindex]), table.data:not([tabindex])").forEach(function (el) {
      if (el.scrollWidth > el.clientWidth) el.setAttribute("tabindex", "0");
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    searchable();
    collapse();
    focusableScrollers();
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
  });
  document.addEventListener("htmx:afterSettle", function (ev) {
    searchable(ev.target);
    var summary = ev.target.querySelector ? ev.target.querySelector(".error-summary") : null;
    if (summary) summary.focus();
  });
})();
