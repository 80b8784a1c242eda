// Template studio: reorder fields by drag and drop (the ↑ ↓ buttons stay for keyboards and without script).
// Dropping a card on a sibling posts the builder form with _action = "moveto:<path>@<index>": the server moves
// the field (workbench/studio/order.py) and saves the other edits of the page with it.
(function () {
  "use strict";
  var dragged = null;

  function card(el) { return el && el.closest ? el.closest("article.fcard") : null; }
  function siblings(c) {
    var parent = c.getAttribute("data-parent");
    return Array.prototype.filter.call(document.querySelectorAll("form#builder article.fcard"), function (x) {
      return x.getAttribute("data-parent") === parent;
    });
  }
  function clear() {
    document.querySelectorAll(".drop-before, .drop-after, .dragging").forEach(function (x) {
      x.classList.remove("drop-before", "drop-after", "dragging");
    });
  }

  document.addEventListener("dragstart", function (e) {
    if (!e.target.classList || !e.target.classList.contains("drag-handle")) return;
    dragged = card(e.target);
    if (!dragged) return;
    dragged.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", dragged.getAttribute("data-path"));
  });
  document.addEventListener("dragover", function (e) {
    var over = card(e.target);
    if (!dragged || !over || over === dragged || over.getAttribute("data-parent") !== dragged.getAttribute("data-parent")) return;
    e.preventDefault();
    var box = over.getBoundingClientRect();
    var after = e.clientY > box.top + box.height / 2;
    document.querySelectorAll(".drop-before, .drop-after").forEach(function (x) { x.classList.remove("drop-before", "drop-after"); });
    over.classList.add(after ? "drop-after" : "drop-before");
  });
  document.addEventListener("drop", function (e) {
    var over = card(e.target);
    if (!dragged || !over || over === dragged || over.getAttribute("data-parent") !== dragged.getAttribute("data-parent")) return;
    e.preventDefault();
    var list = siblings(dragged);
    var from = list.indexOf(dragged), to = list.indexOf(over);
    var after = over.classList.contains("drop-after");
    var index = to + (after ? 1 : 0) - (from < to + (after ? 1 : 0) ? 1 : 0);
    clear();
    if (index === from) { dragged = null; return; }
    var form = document.getElementById("builder");
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "_action";
    input.value = "moveto:" + dragged.getAttribute("data-path") + "@" + index;
    form.appendChild(input);
    dragged = null;
    form.requestSubmit();
  });
  document.addEventListener("dragend", function () { dragged = null; clear(); });
})();
