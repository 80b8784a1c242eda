"""Procedures and the manual as .docx (python-docx), readable in Word and WPS.

Chinese renders because every style used sets an East Asian font (w:rFonts/@w:eastAsia: 宋体 for text,
黑体 for headings) besides the Latin one; pages are A4 with 2.5 cm margins. The workflow diagram is embedded
as a PNG rendered from the same SVG the HTML and print views carry (cairosvg; Word and WPS need a raster),
followed by the step table.
"""
from __future__ import annotations

import io

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from workbench.documents.content import Procedure
from workbench.documents.manual import Manual

BODY_FONT, HEAD_FONT, LATIN = "宋体", "黑体", "Times New Roman"
DIAGRAM_FONTS = "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, WenQuanYi Micro Hei, sans-serif"


def _font(style, east: str, latin: str = LATIN, size: float | None = None) -> None:
    style.font.name = latin
    if size:
        style.font.size = Pt(size)
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in ("w:ascii", "w:hAnsi"):
        fonts.set(qn(attr), latin)
    fonts.set(qn("w:eastAsia"), east)


def new_document() -> Document:
    doc = Document()
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.PORTRAIT
    sec.page_width, sec.page_height = Cm(21), Cm(29.7)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(sec, side, Cm(2.5))
    _font(doc.styles["Normal"], BODY_FONT, size=10.5)
    for name in ("Title", "Heading 1", "Heading 2", "Heading 3"):
        _font(doc.styles[name], HEAD_FONT, "Arial")
    _font(doc.styles["Table Grid"], BODY_FONT)
    return doc


def _table(doc: Document, header: list[str], rows: list[list[str]]) -> None:
    t = doc.add_table(rows=1, cols=len(header))
    t.style = doc.styles["Table Grid"]
    for cell, text in zip(t.rows[0].cells, header):
        cell.text = ""
        cell.paragraphs[0].add_run(text).bold = True
    for row in rows:
        cells = t.add_row().cells
        for cell, text in zip(cells, row):
            cell.text = str(text)


def _meta(doc: Document, pairs: list[tuple[str, str]]) -> None:
    t = doc.add_table(rows=0, cols=4)
    t.style = doc.styles["Table Grid"]
    for i in range(0, len(pairs), 2):
        cells = t.add_row().cells
        for j, (k, v) in enumerate(pairs[i:i + 2]):
            cells[2 * j].text, cells[2 * j + 1].text = k, v


def _footer(doc: Document, text: str, header: str = "") -> None:
    """Header (organization · number) and footer (version · status · page N) on every page."""
    sec = doc.sections[0]
    if header:
        sec.header.paragraphs[0].text = header
    para = sec.footer.paragraphs[0]
    para.text = f"{text} · "
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.text = "1"
    run.append(t)
    field.append(run)
    para._p.append(field)


def procedure_docx(p: Procedure) -> bytes:
    w = p.w
    doc = new_document()
    doc.add_paragraph(p.org_name)
    doc.add_heading(f"{p.title} {w['procedure']}" if p.lang == "zh" else f"{p.title} — {w['procedure']}", level=0)
    _meta(doc, [(w["number"], p.number or w["none"]), (w["version"], str(p.version or "—")),
                (w["effective"], str(p.effective or "—")), (w["status"], p.status),
                (w["approver"], p.approver or w["not_approved"]), (w["signature"], p.signature or w["none"]),
                (w["next_review"], str(p.next_review or "—")), (w["template"], f"{p.key} v{p.template_version}")])
    doc.add_heading(w["history"], level=1)
    _table(doc, [w["version"], w["date"], w["changes"]], [[v, d, "; ".join(lines)] for v, d, lines in p.history])
    doc.add_heading(w["purpose"], level=1)
    doc.add_paragraph(p.purpose)
    doc.add_heading(w["clauses"], level=1)
    _table(doc, [w["standard"], w["clause"], w["title"]], [list(c) for c in p.clauses])
    doc.add_heading(w["responsibilities"], level=1)
    for role, steps in p.responsibilities:
        doc.add_paragraph(w["role_does"].format(role=role, steps="；".join(steps) if p.lang == "zh" else "; ".join(steps)),
                          style="List Bullet")
    doc.add_heading(w["flow"], level=1)
    doc.add_paragraph(p.main_path)
    for note in p.flow_notes:
        doc.add_paragraph(note)
    png = _diagram_png(p.svg)
    if png:
        doc.add_picture(io.BytesIO(png), width=Cm(16))
    _table(doc, [w["step"], w["from"], w["to"], w["who"], w["requires"], w["sign"]],
           [[s.label, " / ".join(s.sources), s.target, "、".join(s.roles) if p.lang == "zh" else ", ".join(s.roles),
             ("、" if p.lang == "zh" else ", ").join(s.requires) + (f" ({s.comment})" if s.comment else ""),
             s.signature or w["none"]] for s in p.steps])
    doc.add_heading(w["frequency"], level=1)
    doc.add_paragraph(p.frequency)
    doc.add_heading(w["records"], level=1)
    _table(doc, [w["field"], w["type"], w["rule"]],
           [["　" * f.depth + f.label, _type_word(f.kind, p.lang) + (f"（{'/'.join(f.options)}）" if f.options else ""),
             "；".join(f.rules) if p.lang == "zh" else "; ".join(f.rules)] for f in p.fields])
    doc.add_heading(w["related"], level=1)
    for r in p.related or [w["none_found"]]:
        doc.add_paragraph(r, style="List Bullet")
    doc.add_page_break()
    doc.add_heading(f"{w['appendix']}：{p.title}" if p.lang == "zh" else f"{w['appendix']}: {p.title}", level=1)
    _table(doc, [w["field"], w["value"]], [["　" * f.depth + f.label + (" *" if f.required else ""), ""] for f in p.fields])
    _footer(doc, f"{p.number} {w['version']} {p.version or '—'} · {p.status}", f"{p.org_name} · {p.number} {p.title}")
    return _bytes(doc)


def _diagram_png(svg: str) -> bytes | None:
    """The flow diagram's SVG as a PNG at twice its size (sharp at 16 cm); None without an SVG."""
    if not svg:
        return None
    import cairosvg
    # The SVG names no font (the page's CSS gives one); name a CJK one so Chinese labels are not boxes.
    # The ✍ before a signature line is in no CJK font and cairo does not fall back per glyph: drop it.
    svg = svg.replace("<svg ", f'<svg font-family="{DIAGRAM_FONTS}" ', 1).replace("✍ ", "")
    return cairosvg.svg2png(bytestring=svg.encode("utf-8"), scale=2)


def _type_word(kind: str, lang: str) -> str:
    from workbench.documents.rules import TYPE_WORDS

    return TYPE_WORDS["en" if lang == "en" else "zh"].get(kind, kind)


def manual_docx(m: Manual, number: str = "", version: int = 0, status: str = "", approver: str = "",
                effective: str = "") -> bytes:
    w = m.w
    doc = new_document()
    doc.add_paragraph(m.org_name)
    doc.add_heading(w["manual"], level=0)
    _meta(doc, [(w["number"], number or w["none"]), (w["version"], str(version or "—")), (w["status"], status),
                (w["effective"], effective or "—"), (w["approver"], approver or w["not_approved"]),
                (w["standards"], ", ".join(m.standards))])
    doc.add_heading(w["scope"], level=1)
    doc.add_paragraph(m.scope)
    doc.add_heading(w["policy"], level=1)
    doc.add_paragraph(m.policy)
    doc.add_heading(w["roles"], level=1)
    _table(doc, [w["role"], w["people"], w["takes_part"]], [list(r) for r in m.roles])
    if m.appointments:
        _table(doc, [w["appointee"], w["appointed_role"], w["authority"]],
               [[a["person"], a["role"], a["authority"]] for a in m.appointments])
    doc.add_heading(w["clause_table"], level=1)
    _table(doc, [w["standard"], w["clause"], w["title"], w["processes"], w["records_col"]],
           [[r.standard, r.clause, r.title,
             ("、" if m.lang == "zh" else ", ").join(t for _, t in r.processes) or (r.system and w["system"]) or
             ("" if r.heading else w["gap"]), "; ".join(r.evidence)] for r in m.rows])
    doc.add_heading(w["gaps"], level=1)
    for r in m.gaps or []:
        doc.add_paragraph(f"{r.standard} {r.clause} {r.title}", style="List Bullet")
    if not m.gaps:
        doc.add_paragraph(w["none_found"])
    _footer(doc, f"{number} {w['version']} {version or '—'} · {status}", f"{m.org_name} · {number} {w['manual']}")
    return _bytes(doc)


def _bytes(doc: Document) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
