"""A procedure's content (程序文件), generated from one template version: the single source for the HTML
page, the printable view and the .docx. Pure apart from reading versions, adoption and the register.

Every role that takes a step, every field with its rules and the schedule are stated, so what is written
is exactly what the form and the workflow make people do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session

from workbench import clauses as catalogue
from workbench import library
from workbench.diagram import workflow_svg
from workbench.documents.rules import FieldRule, field_rules, txt
from workbench.documents.words import role_name, status_name, words
from workbench.models import Organization, ProcessTemplate

ROLE_ORDER = ("member", "manager", "consultant", "admin")


@dataclass
class Step:
    name: str
    label: str
    sources: list[str]
    target: str
    roles: list[str]
    requires: list[str]
    comment: str
    signature: str


@dataclass
class Procedure:
    lang: str
    org_name: str
    key: str
    title: str
    number: str
    version: int
    template_version: int
    status: str
    effective: date | None
    approver: str
    signature: str
    next_review: date | None
    history: list[tuple[str, str, list[str]]]
    purpose: str
    clauses: list[tuple[str, str, str]]
    responsibilities: list[tuple[str, list[str]]]
    steps: list[Step]
    flow_notes: list[str]
    svg: str
    frequency: str
    fields: list[FieldRule]
    related: list[str]
    roles: list[str] = field(default_factory=list)  # role names, as written
    main_path: str = ""  # the usual way from the initial to a final state, in one line


    @property
    def w(self) -> dict[str, str]:
        return words(self.lang)


def _steps(body: dict, lang: str) -> list[Step]:
    wf = body["workflow"]
    states = wf["states"]
    props = body["schema"].get("properties") or {}
    out = []
    for t in wf["transitions"]:
        comment = t.get("comment", "optional")
        out.append(Step(t["name"], txt(t.get("label"), lang, t["name"]),
                        [txt(states.get(s, {}).get("label"), lang, s) for s in t["from"]],
                        txt(states.get(t["to"], {}).get("label"), lang, t["to"]),
                        [role_name(r, lang) for r in t["roles"]],
                        [txt((props.get(n) or {}).get("label"), lang, n) for n in t.get("requires") or []],
                        words(lang)["comment_required"] if comment == "required" else "",
                        txt((t.get("signature") or {}).get("meaning"), lang)))
    return out


def main_path(body: dict, lang: str) -> str:
    """'已策划 →(开始审核：员工、管理者)→ 审核中 → …' along a shortest path to a final state."""
    from workbench.workflow import path_to_final

    wf = body["workflow"]
    states = wf["states"]
    specs = {t["name"]: t for t in wf["transitions"]}
    sep = "、" if lang == "zh" else ", "
    out = txt(states[wf["initial"]].get("label"), lang, wf["initial"])
    for name in path_to_final(body):
        t = specs[name]
        who = sep.join(role_name(r, lang) for r in t["roles"])
        out += f" →（{txt(t.get('label'), lang, name)}：{who}）→ " if lang == "zh" else \
            f" → ({txt(t.get('label'), lang, name)}: {who}) → "
        out += txt(states[t["to"]].get("label"), lang, t["to"])
    return out


def responsibilities(body: dict, lang: str) -> list[tuple[str, list[str]]]:
    """(role name, what it does) for every role that takes a step: submit, decide, sign (with the meaning)."""
    w = words(lang)
    does: dict[str, list[str]] = {}
    for t in body["workflow"]["transitions"]:
        label = txt(t.get("label"), lang, t["name"])
        meaning = txt((t.get("signature") or {}).get("meaning"), lang)
        what = f"{label}（{w['sign']}：{meaning}）" if meaning and lang == "zh" else \
            f"{label} ({w['sign'].lower()}: {meaning})" if meaning else label
        for r in t["roles"]:
            does.setdefault(r, []).append(what)
    roles = sorted(does, key=lambda r: (ROLE_ORDER.index(r) if r in ROLE_ORDER else 9, r))
    return [(role_name(r, lang), does[r]) for r in roles]


def frequency(body: dict, lang: str) -> str:
    w = words(lang)
    sched = body.get("schedule") or {}
    props = body["schema"].get("properties") or {}

    def label(n: str | None) -> str:
        return txt((props.get(n or "") or {}).get("label"), lang, n or "")
    if "every_months" in sched:
        return w["every"].format(n=sched["every_months"], field=label(sched.get("date_field")))
    if "due_field" in sched:
        warn = sched.get("warn_days", 30)
        if sched.get("subject_field"):
            return w["due"].format(subject=label(sched["subject_field"]), field=label(sched["due_field"]), warn=warn)
        return w["due_nosubject"].format(field=label(sched["due_field"]), warn=warn)
    return w["as_needed"]


def related(db: Session, org: Organization, body: dict, lang: str) -> list[str]:
    """Record links between this process and the organization's other processes, both ways."""
    w = words(lang)
    adopted = {t.key: t for t in library.processes(db, org)}
    out = []
    for name, f in (body["schema"].get("properties") or {}).items():
        if f.get("format") == "record-link":
            for k in f.get("linkTemplates") or []:
                other = adopted.get(k)
                title = txt(other.body.get("title"), lang, k) if other else k
                out.append(w["answers"].format(title=title, field=txt(f.get("label"), lang, name)))
    for other in adopted.values():
        for name, f in (other.body["schema"].get("properties") or {}).items():
            if f.get("format") == "record-link" and body["key"] in (f.get("linkTemplates") or []):
                out.append(w["answered_by"].format(title=txt(other.body.get("title"), lang, other.key),
                                                   field=txt(f.get("label"), lang, name)))
    return out


def history(db: Session, org: Organization, tpl: ProcessTemplate, lang: str) -> list[tuple[str, str, list[str]]]:
    """(version, date, changes) for every published version up to `tpl`, from the versions' diffs."""
    w = words(lang)
    versions = [v for v in library.published_versions(db, org, tpl.key)
                if (v.version, v.org_id is not None, v.id) <= (tpl.version, tpl.org_id is not None, tpl.id)]
    if tpl.id not in {v.id for v in versions}:
        versions.append(tpl)
    out = []
    prev = None
    for v in versions:
        lines = [w["first"]] if prev is None else change_lines(prev.body, v.body, lang)
        out.append((w["v"].format(v=v.version), v.created_at.date().isoformat() if v.created_at else "", lines))
        prev = v
    return out


def change_lines(a: dict, b: dict, lang: str) -> list[str]:
    """What changed from template version a to b, in words (from workbench.studio.versions.diff)."""
    from workbench.studio.versions import diff

    d = diff(a, b, lang)
    zh = lang == "zh"
    sep = "、" if zh else ", "
    lines = []
    for kind, zh_word, en_word in (("added", "新增字段", "Fields added"), ("removed", "删除字段", "Fields removed"),
                                   ("changed", "修改字段", "Fields changed")):
        names = [f.label for f in d.fields if f.kind == kind]
        if names:
            lines.append(f"{zh_word if zh else en_word}{'：' if zh else ': '}{sep.join(names)}")
    what = {"order": ("字段顺序", "field order"), "title": ("名称", "title"), "description": ("目的和范围", "purpose and scope"),
            "clauses": ("对应条款", "clauses"), "states": ("流程状态", "workflow states"), "step": ("流程步骤", "workflow steps"),
            "schedule": ("频次", "frequency"), "rules": ("填写规则", "form rules")}
    kinds = []
    for k, _, _ in d.template:
        if k not in kinds:
            kinds.append(k)
    if kinds:
        names = [what.get(k, (k, k))[0 if zh else 1] for k in kinds]
        lines.append(f"{'修改' if zh else 'Changed: '}{sep.join(names)}")
    return lines or (["无实质变更"] if zh else ["no material change"])


def build(db: Session, org: Organization, tpl: ProcessTemplate, lang: str = "zh", doc=None) -> Procedure:
    """The procedure for `tpl` in `lang`; `doc` (a ControlledDocument) supplies number, status and approval."""
    from workbench.models import User

    body = tpl.body
    w = words(lang)
    wf = body["workflow"]
    states = wf["states"]
    notes = [w["initial"].format(state=txt(states[wf["initial"]].get("label"), lang, wf["initial"]))]
    notes += [w["final"].format(state=txt(s.get("label"), lang, n)) for n, s in states.items() if s.get("final")]
    approver = ""
    if doc is not None and doc.approved_by:
        user = db.get(User, doc.approved_by)
        approver = user.name if user else ""
    roles = sorted({r for t in wf["transitions"] for r in t["roles"]},
                   key=lambda r: (ROLE_ORDER.index(r) if r in ROLE_ORDER else 9, r))
    return Procedure(
        lang=lang, org_name=org.name, key=tpl.key, title=txt(body.get("title"), lang, tpl.key),
        number=doc.number if doc else "", version=doc.version if doc else 0, template_version=tpl.version,
        status=status_name(doc.status if doc else "draft", lang),
        effective=doc.effective_date if doc else None, approver=approver,
        signature=txt((doc.signature or {}).get("meaning"), lang) if doc and doc.signature else "",
        next_review=doc.next_review if doc else None,
        history=history(db, org, tpl, lang), purpose=txt(body.get("description"), lang),
        clauses=[(c["standard"], c["clause"], catalogue.title(c["standard"], c["clause"], lang)) for c in body["clauses"]],
        responsibilities=responsibilities(body, lang), steps=_steps(body, lang), flow_notes=notes,
        svg=workflow_svg(body, lang), frequency=frequency(body, lang), fields=field_rules(body, lang),
        related=related(db, org, body, lang), roles=[role_name(r, lang) for r in roles],
        main_path=main_path(body, lang))

