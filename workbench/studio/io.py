"""Template packs (JSON) and Excel field sheets.

Pack: ``{"format": "processbench-template-pack", "version": 1, "templates": [ … ]}`` (a single template
object or a plain list of templates is accepted on import too). Every template is validated; errors name the
template and the JSON path, and nothing is imported when any template is invalid.

Excel: the way consultants draft forms today — one row per field on the first sheet (or a sheet named
"fields"), columns ``key, label_zh, label_en, type, required, options, help``:

- key: ``lower_case``; a column of a table or a field of a section is written ``table_key.column_key`` below it
- type: text, textarea (long text), number, integer, date, datetime, email, choice, multichoice, yesno, table,
  section, attachment — or the Chinese names 文本, 多行文本, 数字, 整数, 日期, 日期时间, 邮箱, 单选, 多选, 是否,
  表格, 分组, 附件
- required: yes/no (是/否, y/n, 1/0, true/false; empty = no)
- options (choice, multichoice): ``value=中文|English; value2=中文2|English2`` (``value`` alone is its own label)
- help: ``中文|English`` (one text for both is fine)
- show_if (optional): ``result=stop`` — the field is shown (and, if required, required) only when the
  choice or yes/no field ``result`` above it has that value

An optional sheet "template" holds two columns (name, value): key, title_zh, title_en, description_zh,
description_en, clauses (``ISO 9001:2015 8.5.1; ISO 45001:2018 8.1.2``). Errors name the row and column, e.g.
``row 5, column type: unknown type 'datum'``; nothing is created on any error.
"""
from __future__ import annotations

import io
import json
import re
from datetime import datetime, timezone
from typing import Any

from workbench import clauses as clause_catalogue
from workbench import jsonsafe, xlsxsafe
from workbench.studio import builder
from workbench.templates import validate_template

PACK_FORMAT = "processbench-template-pack"
FIELD_COLUMNS = ("key", "label_zh", "label_en", "type", "required", "options", "help", "show_if")
REQUIRED_COLUMNS = ("key", "label_zh", "label_en", "type")
META_NAMES = ("key", "title_zh", "title_en", "description_zh", "description_en", "clauses")
TYPE_NAMES = {
    **{t: t for t in builder.TYPES},
    "long text": "textarea", "longtext": "textarea", "multiline": "textarea", "string": "text",
    "decimal": "number", "int": "integer", "date-time": "datetime", "select": "choice", "enum": "choice",
    "multi-choice": "multichoice", "multi choice": "multichoice", "checkboxes": "multichoice",
    "yes/no": "yesno", "yes-no": "yesno", "boolean": "yesno", "bool": "yesno", "rows": "table",
    "object": "section", "group": "section", "fieldset": "section", "file": "attachment",
    "文本": "text", "单行文本": "text", "多行文本": "textarea", "长文本": "textarea", "数字": "number", "数值": "number",
    "整数": "integer", "日期": "date", "日期时间": "datetime", "时间": "datetime", "邮箱": "email",
    "单选": "choice", "下拉": "choice", "选择": "choice", "多选": "multichoice", "是否": "yesno", "是/否": "yesno",
    "表格": "table", "明细表": "table", "分组": "section", "附件": "attachment", "文件": "attachment",
}
TYPE_TITLES = {  # what the example workbook's "types" sheet explains
    "text": ("文本", "one line of text"), "textarea": ("多行文本", "long text"), "number": ("数字", "a number"),
    "integer": ("整数", "a whole number"), "date": ("日期", "a date"), "datetime": ("日期时间", "date and time"),
    "email": ("邮箱", "an email address"), "choice": ("单选", "one of the options"),
    "multichoice": ("多选", "any of the options"), "yesno": ("是否", "yes or no"),
    "table": ("表格", "rows with the columns listed below it (key table.column)"),
    "section": ("分组", "a group of the fields listed below it (key section.field)"),
    "attachment": ("附件", "an uploaded file"),
}
YES = {"yes", "y", "true", "1", "是", "必填", "x", "✓", "√"}
NO = {"no", "n", "false", "0", "否", ""}


class ImportFailed(ValueError):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


# --- JSON packs -------------------------------------------------------------------------------------------


def export_pack(bodies: list[dict]) -> dict:
    return {"format": PACK_FORMAT, "version": 1,
            "exported_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            "templates": bodies}


def dumps_pack(bodies: list[dict]) -> bytes:
    return json.dumps(export_pack(bodies), ensure_ascii=False, indent=2).encode("utf-8")


def read_pack(data: bytes | str) -> list[dict]:
    """The templates of a pack, all valid. Raises ImportFailed naming template and JSON path."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        doc = jsonsafe.loads(text)
    except UnicodeDecodeError:
        raise ImportFailed(["the file is not UTF-8 text (is it a JSON pack?)"])
    except json.JSONDecodeError as e:
        raise ImportFailed([f"not valid JSON: line {e.lineno} column {e.colno}: {e.msg}"])
    except jsonsafe.Refused as e:
        raise ImportFailed([f"not accepted: {e}"])
    if isinstance(doc, dict) and "templates" in doc:
        if doc.get("format") not in (None, PACK_FORMAT):
            raise ImportFailed([f"$.format: unknown format {doc.get('format')!r}"])
        templates = doc["templates"]
    elif isinstance(doc, dict):
        templates = [doc]
    else:
        templates = doc
    if not isinstance(templates, list) or not templates:
        raise ImportFailed(["the pack holds no templates"])
    errors: list[str] = []
    keys: dict[str, int] = {}
    for i, t in enumerate(templates, 1):
        name = f"template {i}" + (f" ({t['key']})" if isinstance(t, dict) and isinstance(t.get("key"), str) else "")
        for e in validate_template(t):
            errors.append(f"{name}: {e.path}: {e.message}")
        if isinstance(t, dict) and isinstance(t.get("key"), str):
            if t["key"] in keys:
                errors.append(f"{name}: $.key: the key '{t['key']}' is already used by template {keys[t['key']]}")
            keys.setdefault(t["key"], i)
    if errors:
        raise ImportFailed(errors)
    return templates


# --- Excel ------------------------------------------------------------------------------------------------


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _split_i18n(text: str) -> tuple[str, str]:
    if "|" in text:
        zh, en = text.split("|", 1)
        return zh.strip(), en.strip()
    return text.strip(), text.strip()


def parse_options(text: str) -> list[tuple[str, str, str]]:
    """``ok=正常|OK; ng=异常|Not OK`` -> [("ok", "正常", "OK"), …]. Raises ValueError."""
    out = []
    for part in re.split(r"[;；\n]+", text):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            value, labels = part.split("=", 1)
            value = value.strip()
            zh, en = _split_i18n(labels) if labels.strip() else (value, value)
        else:
            value = part
            zh = en = part
        if not value:
            raise ValueError(f"option '{part}' has no value before '='")
        if value in {v for v, _, _ in out}:
            raise ValueError(f"option '{value}' appears twice")
        out.append((value, zh or en, en or zh))
    return out


def format_options(options: list[tuple[str, str, str]]) -> str:
    return "; ".join(f"{v}={zh}|{en}" for v, zh, en in options)


_CLAUSE = re.compile(r"^(?:ISO\s*)?(9001|14001|45001)(?::(?:2015|2018))?[\s:：]+((?:4|5|6|7|8|9|10)(?:\.\d+){0,3})$", re.I)


def parse_clauses(text: str) -> list[tuple[str, str]]:
    out = []
    for part in re.split(r"[;；,，\n]+", text):
        part = part.strip()
        if not part:
            continue
        m = _CLAUSE.match(part)
        if not m:
            raise ValueError(f"'{part}' is not a clause (write e.g. ISO 9001:2015 8.5.1)")
        standard = next(s for s in clause_catalogue.STANDARDS if clause_catalogue.SHORT[s] == m.group(1))
        if not clause_catalogue.exists(standard, m.group(2)):
            raise ValueError(f"{standard} has no clause {m.group(2)}")
        out.append((standard, m.group(2)))
    return out


def _yes(text: str) -> bool | None:
    low = text.strip().lower()
    if low in YES:
        return True
    if low in NO:
        return False
    return None


def read_workbook(data: bytes, meta: dict[str, str] | None = None) -> dict:
    """A template from an Excel workbook. `meta` (key, title_zh, …, clauses) overrides the "template" sheet.

    Raises ImportFailed with every error, each naming row and column."""
    try:  # bounded: archive size, no DTDs, streaming, at most xlsxsafe.MAX_ROWS × MAX_COLS cells per sheet
        wb = xlsxsafe.open_workbook(data)
        try:
            names = {n.lower(): n for n in wb.sheetnames}
            field_sheet = wb[names.get("fields") or names.get("字段") or wb.sheetnames[0]]
            meta_sheet = wb[names["template"]] if "template" in names else (wb[names["模板"]] if "模板" in names else None)
            rows = [[_cell(c) for c in row] for row in xlsxsafe.rows(field_sheet)]
            meta_rows = [[_cell(c) for c in row] for row in xlsxsafe.rows(meta_sheet)] if meta_sheet else []
        finally:
            wb.close()
    except xlsxsafe.Unreadable as e:
        raise ImportFailed([str(e)]) from None
    except (KeyError, IndexError):  # no sheets, or a sheet the workbook lists but does not hold
        raise ImportFailed(["the workbook has no readable sheet"]) from None
    errors: list[str] = []
    info = _read_meta(meta_rows, errors)
    for k, v in (meta or {}).items():
        if v and v.strip():
            info[k] = (v.strip(), "form")
    fields = _read_fields(rows, errors)
    key = info.get("key", ("", ""))[0]
    title_zh, title_en = info.get("title_zh", ("", ""))[0], info.get("title_en", ("", ""))[0]
    where = lambda name: ("the form" if info.get(name, ("", ""))[1] == "form" else  # noqa: E731
                          f"sheet template, row {info[name][1]}, column value" if name in info else "the template sheet")
    if not key:
        errors.append("key: give the template key (in the form or on the sheet 'template')")
    elif not builder.TEMPLATE_KEY_RE.match(key):
        errors.append(f"{where('key')}: '{key}' is not a valid template key (lowercase letters, digits and -)")
    if not title_zh and not title_en:
        errors.append("title: give the template title (title_zh / title_en, in the form or on the sheet 'template')")
    clauses: list[tuple[str, str]] = []
    if not info.get("clauses", ("", ""))[0]:
        errors.append("clauses: name at least one clause, e.g. ISO 9001:2015 8.5.1")
    else:
        try:
            clauses = parse_clauses(info["clauses"][0])
        except ValueError as e:
            errors.append(f"{where('clauses')}: {e}")
    if errors:
        raise ImportFailed(errors)
    t = builder.new_template(key, title_zh, title_en, clauses, first_field=False)
    if info.get("description_zh", ("", ""))[0] or info.get("description_en", ("", ""))[0]:
        t["description"] = builder.i18n(info.get("description_zh", ("", ""))[0], info.get("description_en", ("", ""))[0])
    for row_no, f in fields:
        try:
            t = builder.add_field(t, f["key"], f["type"], f["label_zh"], f["label_en"], f["parent"],
                                  help_zh=f["help"][0], help_en=f["help"][1], required=f["required"],
                                  options=f["options"])
            if f["type"] in builder.CONTAINERS:  # the builder's placeholder column: the sheet lists the real ones
                t = _drop_placeholder(t, f["key"] if not f["parent"] else f"{f['parent']}.{f['key']}")
        except builder.BuilderError as e:
            errors.append(f"row {row_no}, column {e.field or 'key'}: {e}")
    for row_no, f in fields:
        if f["show_if"] and not errors:
            try:
                field, value = _parse_show_if(t, f["show_if"])
                t = builder.set_condition(t, f["key"], field, [value], required=f["required"])
            except (ValueError, builder.BuilderError) as e:
                errors.append(f"row {row_no}, column show_if: {e}")
    for path in builder.field_paths(t):
        if builder.type_of(t, path) in builder.CONTAINERS and not builder._container(t, path).get("properties"):
            row_no = next(r for r, f in fields if (f"{f['parent']}.{f['key']}" if f["parent"] else f["key"]) == path)
            errors.append(f"row {row_no}, column key: the {builder.type_of(t, path)} '{path}' has no columns: "
                          f"add rows with key {path}.<column> below it")
    if not fields and not errors:
        errors.append("the sheet lists no fields (row 1 is the header: key, label_zh, label_en, type, required, options, help)")
    if not errors:
        errors += [f"template: {e.path}: {e.message}" for e in validate_template(t)]
    if errors:
        raise ImportFailed(errors)
    return t


def _drop_placeholder(t: dict, path: str) -> dict:
    t = builder._copy(t)
    builder._container(t, path, create=True)["properties"].clear()
    return t


def _read_meta(rows: list[list[str]], errors: list[str]) -> dict[str, tuple[str, Any]]:
    info: dict[str, tuple[str, Any]] = {}
    for i, row in enumerate(rows, 1):
        name = (row[0] if row else "").strip().lower()
        value = row[1] if len(row) > 1 else ""
        if not name or (i == 1 and name in ("name", "名称", "项目")):
            continue
        if name not in META_NAMES:
            errors.append(f"sheet template, row {i}, column name: unknown setting '{row[0]}' "
                          f"(use {', '.join(META_NAMES)})")
            continue
        info[name] = (value, i)
    return info


def _read_fields(rows: list[list[str]], errors: list[str]) -> list[tuple[int, dict]]:
    if not rows:
        errors.append("row 1: the sheet is empty (row 1 is the header: key, label_zh, label_en, type, required, options, help)")
        return []
    header = [h.strip().lower() for h in rows[0]]
    cols: dict[str, int] = {}
    for i, h in enumerate(header):
        if not h:
            continue
        if h not in FIELD_COLUMNS:
            errors.append(f"row 1, column {_letter(i)}: unknown column '{rows[0][i]}' (use {', '.join(FIELD_COLUMNS)})")
        elif h in cols:
            errors.append(f"row 1, column {_letter(i)}: column '{h}' appears twice")
        else:
            cols[h] = i
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        errors.append(f"row 1: missing column(s) {', '.join(missing)}")
        return []
    out: list[tuple[int, dict]] = []
    seen: dict[str, tuple[int, str]] = {}  # path -> (row, type)
    for r, row in enumerate(rows[1:], 2):
        get = lambda c: row[cols[c]] if c in cols and cols[c] < len(row) else ""  # noqa: E731
        if not any(get(c) for c in FIELD_COLUMNS):
            continue
        bad = len(errors)
        key = get("key")
        parts = key.split(".")
        parent = ".".join(parts[:-1])
        if not key:
            errors.append(f"row {r}, column key: every field needs a key")
        elif any(not builder.KEY_RE.match(p) for p in parts) or len(parts) > 2:
            errors.append(f"row {r}, column key: '{key}' is not a valid key (lowercase letters, digits and _; "
                          f"a table column is written table.column)")
        elif key in seen:
            errors.append(f"row {r}, column key: '{key}' is already used in row {seen[key][0]}")
        elif parent and (parent not in seen or seen[parent][1] not in builder.CONTAINERS):
            errors.append(f"row {r}, column key: '{parent}' is not a table or section defined above")
        raw_type = get("type")
        type_ = TYPE_NAMES.get(raw_type.strip().lower())
        if not raw_type:
            errors.append(f"row {r}, column type: every field needs a type")
        elif type_ is None:
            errors.append(f"row {r}, column type: unknown type '{raw_type}' (use {', '.join(builder.TYPES)})")
        elif parent and type_ not in builder.CHILD_TYPES:
            errors.append(f"row {r}, column type: a {type_} cannot be inside a table or section")
        label_zh, label_en = get("label_zh"), get("label_en")
        if not label_zh and not label_en:
            errors.append(f"row {r}, column label_zh: every field needs a label (label_zh and/or label_en)")
        required = _yes(get("required"))
        if required is None:
            errors.append(f"row {r}, column required: write yes or no, not '{get('required')}'")
        options: list[tuple[str, str, str]] = []
        if get("options"):
            if type_ not in ("choice", "multichoice"):
                errors.append(f"row {r}, column options: only choice and multichoice fields have options")
            else:
                try:
                    options = parse_options(get("options"))
                except ValueError as e:
                    errors.append(f"row {r}, column options: {e}")
        elif type_ in ("choice", "multichoice"):
            errors.append(f"row {r}, column options: a {type_} needs options, e.g. ok=正常|OK; ng=异常|Not OK")
        if get("show_if") and parent:
            errors.append(f"row {r}, column show_if: only top-level fields can have a condition")
        if len(errors) == bad:
            seen[key] = (r, type_)
            out.append((r, {"key": parts[-1], "parent": parent, "type": type_, "label_zh": label_zh,
                            "label_en": label_en, "required": bool(required), "options": options or None,
                            "help": _split_i18n(get("help")) if get("help") else ("", ""),
                            "show_if": get("show_if")}))
    return out


def _parse_show_if(t: dict, text: str) -> tuple[str, Any]:
    """``result=stop`` -> ("result", "stop"); yes/no fields take yes/no (是/否)."""
    if "=" not in text:
        raise ValueError(f"write field=value, not '{text}'")
    name, raw = (p.strip() for p in text.split("=", 1))
    props = (t.get("schema") or {}).get("properties") or {}
    if name not in props:
        raise ValueError(f"unknown field '{name}' (name a choice or yes/no field above)")
    kind = builder.field_type(props[name])
    if kind == "yesno":
        value = _yes(raw)
        if value is None or not raw:
            raise ValueError(f"'{name}' is a yes/no field: write {name}=yes or {name}=no")
        return name, value
    if kind == "choice":
        values = {str(v): v for v, _ in builder._options_of(props[name])}
        if raw not in values:
            raise ValueError(f"'{name}' has no option '{raw}' (options: {', '.join(values)})")
        return name, values[raw]
    raise ValueError(f"'{name}' is not a choice or yes/no field")


def _letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(i + 1)


def field_rows(t: dict) -> list[list[str]]:
    """The field sheet of a template (header first), as read_workbook reads it."""
    d = builder.describe(t)
    rows = [list(FIELD_COLUMNS)]
    for f in builder._walk(d["fields"]):
        help_ = ""
        if f["help_zh"] or f["help_en"]:
            help_ = f["help_zh"] if f["help_zh"] == f["help_en"] else f"{f['help_zh']}|{f['help_en']}"
        type_ = f["type"] if f["type"] in builder.TYPES else "text"
        show_if = ""
        if f["cond"] and f["cond"] != "complex":
            field, values = json.loads(f["cond"])
            if len(values) == 1:
                v = values[0]
                show_if = f"{field}={'yes' if v is True else 'no' if v is False else v}"
        rows.append([f["path"], f["label_zh"], f["label_en"], type_, "yes" if f["required"] else "no",
                     format_options(f["options"]), help_, show_if])
    return rows


def write_workbook(t: dict) -> bytes:
    """An .xlsx of a template: the "fields" sheet, the "template" sheet and a "types" reference sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = "fields"
    for row in field_rows(t):
        ws.append(row)
    head_fill = PatternFill("solid", fgColor="10243E")
    for c in ws[1]:
        c.font = Font(bold=True, color="FFFFFF")
        c.fill = head_fill
    for letter, width in zip("ABCDEFGH", (22, 18, 22, 14, 10, 46, 40, 18)):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    types = DataValidation(type="list", formula1='"' + ",".join(builder.TYPES) + '"', allow_blank=True)
    yesno = DataValidation(type="list", formula1='"yes,no"', allow_blank=True)
    ws.add_data_validation(types)
    ws.add_data_validation(yesno)
    types.add("D2:D500")
    yesno.add("E2:E500")
    meta = wb.create_sheet("template")
    meta.append(["name", "value"])
    meta.append(["key", t.get("key", "")])
    meta.append(["title_zh", (t.get("title") or {}).get("zh", "")])
    meta.append(["title_en", (t.get("title") or {}).get("en", "")])
    meta.append(["description_zh", (t.get("description") or {}).get("zh", "")])
    meta.append(["description_en", (t.get("description") or {}).get("en", "")])
    meta.append(["clauses", "; ".join(f"{c['standard']} {c['clause']}" for c in t.get("clauses") or [])])
    for c in meta[1]:
        c.font = Font(bold=True, color="FFFFFF")
        c.fill = head_fill
    meta.column_dimensions["A"].width = 18
    meta.column_dimensions["B"].width = 60
    ref = wb.create_sheet("types")
    ref.append(["type", "中文", "meaning"])
    for name, (zh, en) in TYPE_TITLES.items():
        ref.append([name, zh, en])
    ref.append([])
    ref.append(["options", "", "value=中文|English; value2=中文2|English2"])
    ref.append(["help", "", "中文|English"])
    ref.append(["required", "", "yes / no"])
    ref.append(["show_if", "", "field=value: shown only when that choice / yes-no field has the value"])
    for c in ref[1]:
        c.font = Font(bold=True)
    ref.column_dimensions["A"].width = 14
    ref.column_dimensions["C"].width = 60
    for row in ws.iter_rows(min_row=2):
        for c in row:
            c.alignment = Alignment(vertical="top", wrap_text=True)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def example_template() -> dict:
    """A small, realistic template for the example workbook: a forklift daily check (ISO 45001 8.1.2)."""
    b = builder
    t = b.new_template("forklift-daily-check", "叉车日常点检", "Forklift daily check",
                       [("ISO 45001:2018", "8.1.2"), ("ISO 45001:2018", "9.1.1")], first_field=False)
    t["description"] = {"zh": "每班开机前由司机点检，异常时停用并报修。", "en": "Checked by the driver before each shift; stop and report faults."}
    t = b.add_field(t, "check_date", "date", "点检日期", "Check date", required=True)
    t = b.add_field(t, "truck_no", "text", "叉车编号", "Truck no.", required=True, help_zh="见车身铭牌", help_en="On the name plate")
    t = b.add_field(t, "driver", "text", "司机", "Driver", required=True)
    t = b.add_field(t, "items", "table", "点检项目", "Check items")
    t = b.remove_field(b.add_field(t, "part", "text", "部位", "Part", "items", required=True), "items.item")
    t = b.add_field(t, "ok", "yesno", "正常", "OK", "items", required=True)
    t = b.add_field(t, "result", "choice", "结论", "Result", required=True,
                    options=[("ok", "可以使用", "Fit for use"), ("stop", "停用报修", "Stop and repair")])
    t = b.add_field(t, "fault", "textarea", "故障描述", "Fault description")
    t = b.set_condition(t, "fault", "result", ["stop"], required=True)
    return t
