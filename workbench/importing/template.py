"""The import template of a process: an xlsx with the record-number column and one column per importable field
(labels in the user's language), and one sheet per repeating-rows field."""
from __future__ import annotations

import io

from forms.values import kind_of
from workbench.importing import mapping
from workbench.models import ProcessTemplate


def _label(key: str, f: dict, lang: str) -> str:
    return (f.get("label") or {}).get(lang) or key


def _headers(schema: dict, lang: str) -> list[str]:
    out = [mapping.RECORD_NO[lang]]
    for key, f in (schema.get("properties") or {}).items():
        kind = kind_of(f)
        if f.get("format") == "attachment" or (kind == "rows" and (f.get("items") or {}).get("type") == "object"):
            continue
        if kind == "object":
            out += [f"{_label(key, f, lang)}.{_label(s, sf, lang)}" for s, sf in (f.get("properties") or {}).items()
                    if sf.get("format") != "attachment" and kind_of(sf) not in ("object", "rows")]
        else:
            out.append(_label(key, f, lang))
    return out


def build(tpl: ProcessTemplate, lang: str = "zh") -> bytes:
    from openpyxl import Workbook

    lang = lang if lang in ("zh", "en") else "zh"
    wb = Workbook(write_only=True)
    schema = tpl.body["schema"]
    title = (tpl.body.get("title") or {}).get(lang) or tpl.key
    ws = wb.create_sheet(str(title)[:31].translate({ord(c): "_" for c in "[]:*?/\\"}))
    ws.append(_headers(schema, lang))
    for key, f in (schema.get("properties") or {}).items():
        if kind_of(f) == "rows" and (f.get("items") or {}).get("type") == "object":
            rs = wb.create_sheet(_label(key, f, lang)[:31].translate({ord(c): "_" for c in "[]:*?/\\"}))
            rs.append(_headers(f["items"], lang))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
