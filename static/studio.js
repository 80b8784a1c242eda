// Template studio: small conveniences on top of plain forms. Every page works without this file.
(function () {
  "use strict";

  // The preview form is for trying the form out: never submit it.
  document.addEventListener("submit", function (e) {
    if (e.target.matches && e.target.matches("form[data-preview]")) e.preventDefault();
  });
  document.addEventListener("click", function (e) {
    var btn = e.target.closest ? e.target.closest("form[data-preview] button") : null;
    if (btn) e.preventDefault();
  }, true);

  // htmx "settles" a swapped preview by restoring the new elements' attributes after htmx:afterSwap, which
  // undoes app.js's hiding of conditional fields: ask app.js to look again once the preview has settled.
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.target && e.target.id === "preview") document.dispatchEvent(new Event("change"));
  });

  // Ask before removing a field or discarding a draft.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest ? e.target.closest("[data-confirm]") : null;
    if (btn && !window.confirm(btn.getAttribute("data-confirm"))) {
      e.preventDefault();
      e.stopPropagation();
    }
  });

  // Enter in an "add a field" row adds the field (instead of the form's default save).
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || !e.target.closest) return;
    var row = e.target.closest(".addrow");
    if (row && e.target.tagName === "INPUT") {
      e.preventDefault();
      row.querySelector("button[name=_action]").click();
    }
  });

  // Close an open "Copy to…" menu when clicking elsewhere.
  document.addEventListener("click", function (e) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(e.target)) menu.removeAttribute("open");
    });
  });

  // Keep the scroll position across the builder's full-page posts (unless a field is focused by #anchor).
  var KEY = "studio-scroll:" + location.pathname;
  document.addEventListener("submit", function (e) {
    if (e.target.id === "builder") {
      try { sessionStorage.setItem(KEY, String(window.scrollY)); } catch (err) { /* private mode */ }
    }
  });
  window.addEventListener("DOMContentLoaded", function () {
    var y = null;
    try { y = sessionStorage.getItem(KEY); sessionStorage.removeItem(KEY); } catch (err) { /* private mode */ }
    if (y !== null && !location.hash) window.scrollTo(0, parseInt(y, 10) || 0);
    if (location.hash) {
      var target = document.getElementById(location.hash.slice(1));
      if (target) target.classList.add("just-changed");
    }
  });
})();
