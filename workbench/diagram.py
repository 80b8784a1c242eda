"""A template's workflow drawn as an SVG flow diagram, on the server (no script, no style attributes).

    svg = workflow_svg(template_body, lang="zh")     # an inline-safe "<svg …>…</svg>" string

States are boxes; each step (transition) is a smaller box on the arrows between them, naming the step, who may
take it, the e-signature's meaning and the fields that must be filled first — so labels never sit on top of
each other. The initial state has a start dot, final states a double border, locked states (`workflow.locked`)
a "locked" tag. States are laid out in rows by their distance from the initial state; steps that lead back
(return, reopen) are drawn dashed.

The drawing carries classes (`wf-*`) for static/diagram.css, plus plain presentation attributes (fill,
stroke) so that it still reads where that stylesheet is absent (a procedure document, a print). Every text is
escaped; labels come from the template in the given language ("zh" or "en"). The result depends on the
template alone, so the studio preview, the published version page and generated documents draw the same.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from html import escape
from typing import Any

STATE_W, STATE_H = 150, 40
STEP_W = 176
MAX_W = 236
LANE_GAP = 12
LINE_H = 15
COL_GAP = 26
ROW_GAP = 30
MARGIN = 16

_WORDS = {
    "zh": {"member": "成员", "manager": "管理者", "consultant": "顾问", "admin": "管理员", "sign": "签名",
           "needs": "须填", "comment": "须填写意见", "locked": "锁定", "title": "流程图", "start": "开始",
           "final": "终态", "none": "（无状态）", "sep": "、", "colon": "："},
    "en": {"member": "member", "manager": "manager", "consultant": "consultant", "admin": "admin",
           "sign": "signs", "needs": "needs", "comment": "comment required", "locked": "locked",
           "title": "Workflow", "start": "start", "final": "final", "none": "(no states)", "sep": ", ",
           "colon": ": "},
}


def _d(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _text(i18n: Any, lang: str, default: str = "") -> str:
    if isinstance(i18n, dict):
        v = i18n.get(lang) or i18n.get("en" if lang == "zh" else "zh")
        if isinstance(v, str) and v.strip():
            return v.strip()
    return default


def _width(s: str, size: float = 12) -> float:
    """An estimate of the rendered width (CJK and full-width glyphs are about one em, others ~0.6 em)."""
    return sum(size if ord(c) >= 0x2E80 else size * 0.6 for c in s)


def _fit(s: str, width: float, size: float = 12) -> str:
    """Shorten `s` with "…" to fit `width` (the full text stays in the element's <title>)."""
    if _width(s, size) <= width:
        return s
    out = ""
    for c in s:
        if _width(out + c + "…", size) > width:
            break
        out += c
    return out + "…"


@dataclass
class _Node:
    kind: str  # state | step
    name: str
    lines: list[tuple[str, str]]  # (css class, text)
    row: int = 0
    x: float = 0
    y: float = 0
    w: float = STATE_W
    h: float = STATE_H
    classes: list[str] = field(default_factory=list)
    tooltip: str = ""


def _ranks(states: list[str], initial: str, steps: list[dict]) -> dict[str, int]:
    """Distance of each state from the initial one (unreached states follow, one row each)."""
    rank = {initial: 0} if initial in states else ({states[0]: 0} if states else {})
    frontier = list(rank)
    while frontier:
        nxt = []
        for s in frontier:
            for st in steps:
                if s in st["from"] and st["to"] in states and st["to"] not in rank:
                    rank[st["to"]] = rank[s] + 1
                    nxt.append(st["to"])
        frontier = nxt
    top = max(rank.values(), default=-1)
    for s in states:
        if s not in rank:
            top += 1
            rank[s] = top
    return rank


def _steps(wf: dict, states: list[str]) -> list[dict]:
    out = []
    for tr in wf.get("transitions") or []:
        if not isinstance(tr, dict):
            continue
        froms = [s for s in tr.get("from") or [] if isinstance(s, str) and s in states]
        to = tr.get("to") if isinstance(tr.get("to"), str) else ""
        if froms and to in states:
            out.append({**tr, "from": froms, "to": to})
    return out


def workflow_svg(template_body: dict, lang: str = "zh") -> str:
    """The workflow of a template as an inline-safe `<svg>` (see the module docstring)."""
    lang = "en" if str(lang).startswith("en") else "zh"
    w = _WORDS[lang]
    body = template_body if isinstance(template_body, dict) else {}
    wf = _d(body.get("workflow"))
    raw_states = _d(wf.get("states"))
    states = [n for n, s in raw_states.items() if isinstance(n, str) and isinstance(s, dict)]
    initial = wf.get("initial") if isinstance(wf.get("initial"), str) else ""
    locked = {s for s in wf.get("locked") or [] if isinstance(s, str)}
    props = _d(_d(body.get("schema")).get("properties"))
    title = _text(body.get("title"), lang, str(body.get("key") or ""))
    steps = _steps(wf, states)
    rank = _ranks(states, initial, steps)

    nodes: dict[str, _Node] = {}
    for s in states:
        label = _text(raw_states[s].get("label"), lang, s)
        classes = ["wf-state"]
        if raw_states[s].get("final"):
            classes.append("wf-final")
        if s == initial:
            classes.append("wf-initial")
        if s in locked:
            classes.append("wf-locked")
        lines = [("wf-label", label)]
        if s in locked:
            lines.append(("wf-tag", "🔒 " + w["locked"]))
        tip = label + (f" ({w['final']})" if raw_states[s].get("final") else "")
        nodes["s:" + s] = _Node("state", s, lines, row=2 * rank[s], classes=classes, tooltip=tip,
                                w=min(MAX_W, max(STATE_W, _width(label, 13) + 28)),
                                h=STATE_H + (LINE_H if s in locked else 0))
    edges: list[tuple[str, str, bool, bool]] = []  # (from node, to node, arrowhead, leads back)
    for i, st in enumerate(steps):
        label = _text(st.get("label"), lang, str(st.get("name") or ""))
        roles = w["sep"].join(w.get(r, r) for r in st.get("roles") or [] if isinstance(r, str))
        lines = [("wf-label", label)]
        if roles:
            lines.append(("wf-roles", roles))
        meaning = _text(_d(st.get("signature")).get("meaning"), lang)
        if st.get("signature") is not None:
            lines.append(("wf-sign", f"✍ {w['sign']}" + (w["colon"] + meaning if meaning else "")))
        req = [_text(_d(props.get(f)).get("label"), lang, f) for f in st.get("requires") or [] if isinstance(f, str)]
        if req:
            lines.append(("wf-needs", w["needs"] + w["colon"] + w["sep"].join(req)))
        if st.get("comment") == "required":
            lines.append(("wf-needs", w["comment"]))
        src_rank = min(rank[s] for s in st["from"])
        back = rank[st["to"]] <= src_rank
        row = 2 * min(src_rank, rank[st["to"]]) + 1
        classes = ["wf-step"] + (["wf-back"] if back else []) + (["wf-signed"] if st.get("signature") else [])
        key = f"t:{i}"
        text_w = max(_width(t, 12 if j == 0 else 11) for j, (_, t) in enumerate(lines)) + 20
        nodes[key] = _Node("step", str(st.get("name") or ""), lines, row=row, w=min(MAX_W, max(STEP_W, text_w)),
                           h=10 + LINE_H * len(lines), classes=classes, tooltip=" · ".join(t for _, t in lines))
        for s in st["from"]:
            edges.append(("s:" + s, key, False, back))
        edges.append((key, "s:" + st["to"], True, back))

    if not nodes:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" class="wf-diagram" viewBox="0 0 200 40" role="img" '
                f'aria-label="{escape(w["title"])}"><text x="10" y="24" class="wf-empty">{escape(w["none"])}</text></svg>')

    # ids unique per drawing (several diagrams may share a page), stable for the same template
    uid = hashlib.sha1(json.dumps([wf, lang], sort_keys=True, default=str).encode()).hexdigest()[:8]
    # rows: y positions; columns: nodes side by side, each row centred
    rows: dict[int, list[_Node]] = {}
    for n in nodes.values():
        rows.setdefault(n.row, []).append(n)
    # an edge between rows that are not neighbours would cross the boxes in between: it runs in a lane on the
    # right instead, one lane per such edge
    long_edges = [i for i, (a, b, _h, _b) in enumerate(edges) if abs(nodes[a].row - nodes[b].row) > 1]
    lanes = {i: k for k, i in enumerate(long_edges)}
    content = max(sum(n.w for n in ns) + COL_GAP * (len(ns) - 1) for ns in rows.values())
    width = content + 2 * MARGIN + (LANE_GAP * (len(lanes) + 1) if lanes else 0)
    y = MARGIN + 22  # room for the start dot above the initial state
    for r in sorted(rows):
        ns = rows[r]
        row_h = max(n.h for n in ns)
        x = MARGIN + (content - (sum(n.w for n in ns) + COL_GAP * (len(ns) - 1))) / 2
        for n in ns:
            n.x, n.y = x, y + (row_h - n.h) / 2
            x += n.w + COL_GAP
        y += row_h + ROW_GAP
    height = y - ROW_GAP + MARGIN

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="wf-diagram" viewBox="0 0 {width:.0f} {height:.0f}" '
           f'width="{width:.0f}" height="{height:.0f}" role="img" aria-labelledby="wf-title-{uid}">',
           f'<title id="wf-title-{uid}">{escape(w["title"])}{w["colon"]}{escape(title)}</title>',
           f'<defs><marker id="wf-arrow-{uid}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="wf-arrowhead" fill="#475569"/></marker></defs>']
    # edges first, so boxes sit on top of them
    out.append('<g class="wf-edges">')
    for i, (a, b, head, back) in enumerate(edges):
        na, nb = nodes[a], nodes[b]
        cls = "wf-edge" + (" wf-back" if back else "")
        dash = ' stroke-dasharray="5 4"' if back else ""
        marker = f' marker-end="url(#wf-arrow-{uid})"' if head else ""
        if i in lanes:  # out of the right side, along the lane, into the right side
            lane = MARGIN + content + LANE_GAP * (lanes[i] + 1)
            ax, ay = na.x + na.w, na.y + na.h / 2
            bx, by = nb.x + nb.w, nb.y + nb.h / 2
            d = f"M{ax:.1f},{ay:.1f} H{lane:.1f} V{by:.1f} H{bx + 2:.1f}"
        else:
            ax, bx = na.x + na.w / 2, nb.x + nb.w / 2
            ay, by = (na.y + na.h, nb.y) if na.y < nb.y else (na.y, nb.y + nb.h)
            mid = (ay + by) / 2
            d = f"M{ax:.1f},{ay:.1f} C{ax:.1f},{mid:.1f} {bx:.1f},{mid:.1f} {bx:.1f},{by:.1f}"
        out.append(f'<path d="{d}" class="{cls}" fill="none" stroke="#475569" stroke-width="1.4"{dash}{marker}/>')
    out.append("</g>")
    init = nodes.get("s:" + initial)
    if init is not None:
        cx, top = init.x + init.w / 2, init.y
        out.append(f'<g class="wf-start"><title>{escape(w["start"])}</title>'
                   f'<circle cx="{cx:.1f}" cy="{top - 16:.1f}" r="5" fill="#1e293b"/>'
                   f'<path d="M{cx:.1f},{top - 11:.1f} L{cx:.1f},{top:.1f}" class="wf-edge" stroke="#475569" '
                   f'stroke-width="1.4" marker-end="url(#wf-arrow-{uid})"/></g>')
    for key, n in nodes.items():
        cls = " ".join(n.classes)
        out.append(f'<g class="{cls}" data-name="{escape(n.name)}"><title>{escape(n.tooltip)}</title>')
        if n.kind == "state":
            fill, stroke = ("#ecfdf5", "#15803d") if "wf-final" in n.classes else ("#ffffff", "#1e3a8a")
            out.append(f'<rect x="{n.x:.1f}" y="{n.y:.1f}" width="{n.w:.0f}" height="{n.h:.0f}" rx="8" '
                       f'class="wf-box" fill="{fill}" stroke="{stroke}" stroke-width="1.6"/>')
            if "wf-final" in n.classes:
                out.append(f'<rect x="{n.x + 3:.1f}" y="{n.y + 3:.1f}" width="{n.w - 6:.0f}" height="{n.h - 6:.0f}" '
                           f'rx="6" class="wf-inner" fill="none" stroke="{stroke}" stroke-width="1"/>')
        else:
            out.append(f'<rect x="{n.x:.1f}" y="{n.y:.1f}" width="{n.w:.0f}" height="{n.h:.0f}" rx="4" '
                       f'class="wf-box" fill="#f8fafc" stroke="#94a3b8" stroke-width="1"/>')
        first_y = n.y + (n.h - LINE_H * len(n.lines)) / 2 + LINE_H - 4
        for j, (tcls, t) in enumerate(n.lines):
            size = 13 if (n.kind == "state" and j == 0) else (12 if j == 0 else 11)
            shown = _fit(t, n.w - 12, size)
            weight = ' font-weight="600"' if j == 0 else ""
            out.append(f'<text x="{n.x + n.w / 2:.1f}" y="{first_y + j * LINE_H:.1f}" text-anchor="middle" '
                       f'class="{tcls}" font-size="{size}"{weight} fill="#0f172a">{escape(shown)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
