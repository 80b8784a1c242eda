"""Workflow diagram as an inline-safe SVG (placeholder until the studio's version lands on main).

`workflow_svg(template_body, lang)` draws the states in a column and each transition as a labelled arrow
on the right. No script, no style attributes: classes only (styled by static/app.css), text escaped.
"""
from __future__ import annotations

from xml.sax.saxutils import escape


def _t(i18n, lang: str, default: str = "") -> str:
    if isinstance(i18n, dict):
        return str(i18n.get(lang) or i18n.get("en") or i18n.get("zh") or default)
    return default


def workflow_svg(template_body: dict, lang: str = "zh") -> str:
    wf = template_body.get("workflow") or {}
    states = list((wf.get("states") or {}).items())
    transitions = [t for t in wf.get("transitions") or [] if isinstance(t, dict)]
    row, box_w, box_h = 64, 180, 36
    y_of = {name: 20 + i * row for i, (name, _) in enumerate(states)}
    width = 40 + box_w + 60 + 26 * max(1, len(transitions)) + 220
    height = max(40 + row * max(1, len(states)), 40 + 18 * len(transitions))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="wf-diagram" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img">']
    for name, st in states:
        y = y_of[name]
        cls = "wf-state" + (" wf-final" if st.get("final") else "") + (" wf-initial" if name == wf.get("initial") else "")
        out.append(f'<g class="{cls}"><rect x="20" y="{y}" width="{box_w}" height="{box_h}" rx="8"/>'
                   f'<text x="{20 + box_w // 2}" y="{y + 23}" text-anchor="middle">{escape(_t(st.get("label"), lang, name))}</text></g>')
    for i, tr in enumerate(transitions):
        x = 20 + box_w + 20 + 26 * i
        to = y_of.get(tr.get("to"))
        for frm in tr.get("from") or []:
            y1 = y_of.get(frm)
            if y1 is None or to is None:
                continue
            a, b = y1 + box_h // 2, to + box_h // 2
            out.append(f'<path class="wf-edge" d="M{20 + box_w} {a} H{x} V{b} H{20 + box_w + 6}"/>'
                       f'<path class="wf-arrow" d="M{20 + box_w + 6} {b - 4} L{20 + box_w} {b} L{20 + box_w + 6} {b + 4}"/>')
        if to is not None:
            label = _t(tr.get("label"), lang, str(tr.get("name", "")))
            out.append(f'<text class="wf-label" x="{20 + box_w + 30 + 26 * len(transitions)}" '
                       f'y="{24 + i * 18}">{i + 1}. {escape(label)}</text>')
            out.append(f'<text class="wf-num" x="{x + 3}" y="{(to + box_h // 2) - 4}">{i + 1}</text>')
    out.append("</svg>")
    return "".join(out)
