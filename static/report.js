// Audit report page: the print button, and a confirmation before issuing. No inline script (strict CSP).
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var btn = e.target.closest ? e.target.closest("[data-print]") : null;
    if (btn) { e.preventDefault(); window.print(); return; }
    var ask = e.target.closest ? e.target.closest("#report-issue [data-confirm]") : null;
    if (ask && !window.confirm(ask.getAttribute("data-confirm"))) e.preventDefault();
  });
})();
