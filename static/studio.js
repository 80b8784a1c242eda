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

  // The live preview and full-page posts of the builder never cross (issue #12 §6): once the builder form is
  // being submitted, no further preview is sent; a preview still on its way is awaited before the page
  // leaves (leaving would abort it), and its late answer is not swapped in.
  var inflight = 0, leaving = false, pending = null;
  function builderForm(el) { return el && el.closest ? el.closest("form#builder") : null; }
  document.addEventListener("htmx:confirm", function (e) {
    if (leaving && builderForm(e.target)) e.preventDefault();
  });
  document.addEventListener("htmx:beforeRequest", function (e) {
    if (builderForm(e.target)) inflight += 1;
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (!builderForm(e.target)) return;
    inflight = Math.max(0, inflight - 1);
    if (inflight === 0 && pending) {
      var p = pending;
      pending = null;
      if (p.submitter) p.form.requestSubmit(p.submitter); else p.form.requestSubmit();
    }
  });
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (leaving && builderForm(e.detail.requestConfig && e.detail.requestConfig.elt)) e.detail.shouldSwap = false;
  });
  document.addEventListener("submit", function (e) {
    if (e.target.id !== "builder" || e.defaultPrevented) return;
    leaving = true;
    if (inflight > 0) {
      e.preventDefault();
      pending = {form: e.target, submitter: e.submitter || null};
    }
  });
  window.addEventListener("pageshow", function () { leaving = false; inflight = 0; pending = null; });

  // Workflow tab: a state typed into the states table is offered at once by every step ("starts from",
  // "moves to") and as the initial state, so a new state and a step into it are made in one save.
  function stateRows() {
    var out = [], seen = {};
    var lang = document.documentElement.lang === "en" ? "en" : "zh";
    document.querySelectorAll("#states-table tbody tr").forEach(function (tr) {
      var name = (tr.querySelector("input[name='s:name']") || {}).value || "";
      name = name.trim();
      if (!name || seen[name]) return;
      seen[name] = true;
      var zh = ((tr.querySelector("input[name='s:zh']") || {}).value || "").trim();
      var en = ((tr.querySelector("input[name='s:en']") || {}).value || "").trim();
      out.push({name: name, title: (lang === "en" ? en || zh : zh || en) || name});
    });
    return out;
  }
  function offerStates() {
    var states = stateRows();
    document.querySelectorAll("select[data-states]").forEach(function (sel) {
      var cur = sel.value, blank = sel.getAttribute("data-states") === "to";
      while (sel.options.length) sel.remove(0);
      if (blank) sel.add(new Option("—", ""));
      states.forEach(function (s) { sel.add(new Option(s.title, s.name, false, s.name === cur)); });
      if (cur && !states.some(function (s) { return s.name === cur; })) sel.add(new Option(cur, cur, true, true));
      sel.value = cur;
    });
    document.querySelectorAll("fieldset[data-states=from]").forEach(function (fs) {
      var name = fs.getAttribute("data-name"), checked = {};
      fs.querySelectorAll("label.choice").forEach(function (lab) {
        var box = lab.querySelector("input");
        if (box.checked) checked[box.value] = true;
        lab.remove();
      });
      var before = fs.querySelector(".field-error");
      states.forEach(function (s) {
        var lab = document.createElement("label");
        lab.className = "choice";
        var box = document.createElement("input");
        box.type = "checkbox";
        box.name = name;
        box.value = s.name;
        box.checked = !!checked[s.name];
        lab.appendChild(box);
        lab.appendChild(document.createTextNode(" " + s.title));
        fs.insertBefore(lab, before);
      });
    });
  }
  document.addEventListener("input", function (e) {
    if (e.target.closest && e.target.closest("#states-table")) offerStates();
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
