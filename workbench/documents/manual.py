"""The management manual (管理手册), generated from the organization's processes and records.

`snapshot` freezes what the manual is generated from (JSON, stored on the document version, so an approved
manual never changes when records do): scope and policy from the latest completed records of the context
and leadership processes, appointments, the roles and who holds them, and a clause-by-clause table — every
clause of each selected standard exactly once → the adopted processes serving it → their records. Clauses
no process serves are gaps, unless the catalogue marks them served by the documented system itself.
`build` turns a snapshot into the page / docx view-model in one language.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, func, select

from workbench import clauses as catalogue
from workbench import library
from workbench.audit.sampling import serves
from workbench.documents.content import ROLE_ORDER
from workbench.documents.rules import txt
from workbench.documents.words import role_name, words
from workbench.models import Membership, Organization, Record, User
from workbench.workflow import is_final

CONTEXT, LEADERSHIP = "context-interested-parties", "leadership-policy-roles"


def _latest_completed(db: Session, org: Organization, key: str, want) -> Record | None:
    tpl = library.adopted(db, org, key)
    if tpl is None:
        return None
    from workbench.models import ProcessTemplate

    bodies = {t.id: t.body for t in db.exec(select(ProcessTemplate).where(ProcessTemplate.key == key)).all()}
    recs = db.exec(select(Record).where(Record.org_id == org.id, Record.template_key == key)
                   .order_by(Record.record_date.desc(), Record.id.desc())).all()
    for r in recs:
        body = bodies.get(r.template_id)
        if body and is_final(body, r.state) and want(r.data):
            return r
    return None


def snapshot(db: Session, org: Organization, standards: list[str]) -> dict:
    scope = _latest_completed(db, org, CONTEXT, lambda d: bool(d.get("scope_statement")))
    policy = _latest_completed(db, org, LEADERSHIP, lambda d: bool(d.get("policy_text")))
    appointed = _latest_completed(db, org, LEADERSHIP, lambda d: bool(d.get("appointments")))
    processes = library.processes(db, org)
    stats = {k: (n, last) for k, n, last in db.exec(
        select(Record.template_key, func.count(Record.id), func.max(Record.record_date))
        .where(Record.org_id == org.id).group_by(Record.template_key)).all()}
    people: dict[str, list[str]] = {}
    for m, u in db.exec(select(Membership, User).join(User, User.id == Membership.user_id)
                        .where(Membership.org_id == org.id)).all():
        if m.role != "auditor":
            people.setdefault(m.role, []).append(u.name)
    takes: dict[str, list[str]] = {}
    for t in processes:
        for r in sorted({r for tr in t.body["workflow"]["transitions"] for r in tr["roles"]}):
            takes.setdefault(r, []).append(t.key)
    rows = []
    cat = catalogue.catalogue()
    for std in [s for s in catalogue.STANDARDS if s in set(standards)]:
        for clause, entry in sorted(cat[std]["clauses"].items(), key=lambda kv: catalogue.sort_key(kv[0])):
            keys = [t.key for t in processes if serves(t.body["clauses"], std, clause)]
            rows.append({"standard": std, "clause": clause, "title": {"zh": entry.get("zh", ""), "en": entry.get("en", "")},
                         "heading": "." not in clause, "processes": keys, "system": entry.get("system") or None})
    return {
        "org": org.name, "standards": [s for s in catalogue.STANDARDS if s in set(standards)],
        "scope": {"text": scope.data.get("scope_statement"), "record": scope.id, "date": str(scope.record_date)} if scope else None,
        "policy": {"text": policy.data.get("policy_text"), "version": policy.data.get("policy_version") or "",
                   "record": policy.id, "date": str(policy.record_date)} if policy else None,
        "appointments": [{"person": a.get("person", ""), "role": a.get("role", ""), "authority": a.get("authority", "")}
                         for a in (appointed.data.get("appointments") or []) if isinstance(a, dict)] if appointed else [],
        "appointments_record": appointed.id if appointed else None,
        "people": {r: sorted(p) for r, p in people.items()},
        "takes": takes,
        "processes": {t.key: {"title": dict(t.body.get("title") or {}), "version": t.version,
                              "records": stats.get(t.key, (0, None))[0],
                              "latest": str(stats[t.key][1]) if t.key in stats and stats[t.key][1] else ""}
                      for t in processes},
        "clauses": rows,
    }


@dataclass
class ClauseRow:
    standard: str
    clause: str
    title: str
    heading: bool
    processes: list[tuple[str, str]]  # (key, title)
    evidence: list[str]
    system: str
    gap: bool


@dataclass
class Manual:
    lang: str
    org_name: str
    standards: list[str]
    scope: str
    scope_record: int | None
    policy: str
    policy_record: int | None
    appointments: list[dict]
    roles: list[tuple[str, str, str]]  # (role, people, processes)
    rows: list[ClauseRow]

    @property
    def gaps(self) -> list[ClauseRow]:
        return [r for r in self.rows if r.gap]

    @property
    def w(self) -> dict[str, str]:
        return words(self.lang)


def build(snap: dict, lang: str = "zh") -> Manual:
    w = words(lang)
    procs = snap.get("processes") or {}

    def title(k: str) -> str:
        return txt((procs.get(k) or {}).get("title"), lang, k)
    rows = []
    for r in snap.get("clauses") or []:
        keys = r.get("processes") or []
        evidence = []
        for k in keys:
            p = procs.get(k) or {}
            evidence.append(f"{title(k)}：" + (w["records_n"].format(n=p.get("records", 0), d=p.get("latest") or "—")
                                              if p.get("records") else w["no_records"]) if lang == "zh" else
                            f"{title(k)}: " + (w["records_n"].format(n=p.get("records", 0), d=p.get("latest") or "—")
                                              if p.get("records") else w["no_records"]))
        system = txt(r.get("system"), lang) if r.get("system") else ""
        rows.append(ClauseRow(r["standard"], r["clause"], txt(r.get("title"), lang), bool(r.get("heading")),
                              [(k, title(k)) for k in keys], evidence, system,
                              gap=not keys and not system and not r.get("heading")))
    roles = []
    people, takes = snap.get("people") or {}, snap.get("takes") or {}
    for role in sorted(set(people) | set(takes), key=lambda x: (ROLE_ORDER.index(x) if x in ROLE_ORDER else 9, x)):
        roles.append((role_name(role, lang), "、".join(people.get(role, [])) if lang == "zh" else ", ".join(people.get(role, [])),
                      ("、" if lang == "zh" else ", ").join(title(k) for k in takes.get(role, []))))
    scope, policy = snap.get("scope"), snap.get("policy")
    return Manual(lang, snap.get("org", ""), snap.get("standards") or [],
                  scope["text"] if scope else w["no_record"].format(title="组织环境" if lang == "zh" else "Context"),
                  scope["record"] if scope else None,
                  policy["text"] if policy else w["no_record"].format(title="方针" if lang == "zh" else "Policy"),
                  policy["record"] if policy else None, snap.get("appointments") or [], roles, rows)
