"""The order of fields: one place up or down (the builder's buttons, for keyboards), or to a position among
its siblings (drag and drop). With headings (ui.sections), a top-level field crossing the first or last field
of its heading moves into the neighbouring heading."""
from __future__ import annotations

from workbench.studio.common import BuilderError, _container, _copy, _schema, get_field, key_of, parent_of, top_order


def move_field(t: dict, path: str, direction: str | int) -> dict:
    """Move a field one place up (-1, "up") or down (+1, "down") among its siblings, as the form shows them.

    With ui.sections (headings), moving past the first/last field of a heading moves it into the
    neighbouring heading."""
    t = _copy(t)
    get_field(t, path)
    step = -1 if direction in ("up", -1) else 1
    parent, name = parent_of(path), key_of(path)
    if parent:
        obj = _container(t, parent, create=True)
        names = list(obj["properties"])
        i = names.index(name)
        j = i + step
        if 0 <= j < len(names):
            names[i], names[j] = names[j], names[i]
            obj["properties"] = {n: obj["properties"][n] for n in names}
        return t
    ui = t.get("ui") or {}
    sections = ui.get("sections")
    if sections and any(name in (s.get("fields") or []) for s in sections):
        si = next(i for i, s in enumerate(sections) if name in s["fields"])
        fields = sections[si]["fields"]
        fi = fields.index(name)
        if 0 <= fi + step < len(fields):
            fields[fi], fields[fi + step] = fields[fi + step], fields[fi]
        elif 0 <= si + step < len(sections) and len(fields) > 1:
            fields.remove(name)
            if step < 0:
                sections[si - 1]["fields"].append(name)
            else:
                sections[si + 1]["fields"].insert(0, name)
        order = top_order(t)
    else:
        order = top_order(t)
        i = order.index(name)
        j = i + step
        if not 0 <= j < len(order):
            return t
        order[i], order[j] = order[j], order[i]
        if ui.get("order"):
            ui["order"] = order
    props = _schema(t)["properties"]
    _schema(t)["properties"] = {n: props[n] for n in order}
    return t


def move_field_to(t: dict, path: str, index: int) -> dict:
    """Move a field to position `index` among its siblings as the form shows them (0 = first)."""
    parent, name = parent_of(path), key_of(path)
    get_field(t, path)
    names = top_order(t) if not parent else list(_container(t, parent).get("properties") or {})
    if not 0 <= index < len(names):
        raise BuilderError("unknown position", "order")
    steps = index - names.index(name)
    for _ in range(abs(steps)):
        t = move_field(t, path, 1 if steps > 0 else -1)
    return t if steps else _copy(t)
