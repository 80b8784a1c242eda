"""Demo data: a precision-machining SME with about 12 months of records in every process, a second
organization to show tenant isolation, and one user per role. Idempotent: seeding twice adds nothing.

Records are made from each template's `examples`, moved to dates spread over the last year, and walked
through their workflow like real work would be (older records closed, recent ones still open), so the
records, revisions, events and schedules all look like a year of use.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
import random
import re
from datetime import date, datetime, time, timedelta, timezone

from argon2 import PasswordHasher
from sqlmodel import Session, func, select

from workbench import library, records, workflow
from workbench.db import get_session
from workbench.formats import record_validator
from workbench.models import Membership, Organization, Record, User, utcnow
from workbench.schedules import add_months

DEMO_PASSWORD = "demo123456"
# Demo accounts use cheap argon2 parameters so that seeding (which signs hundreds of approvals) is fast;
# they are upgraded to the default parameters at their first sign-in (check_needs_rehash).
_demo_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

ORGS = [
    ("demo", "示例精密制造有限公司", 120),
    ("lvyuan", "苏州绿源环保材料有限公司", 45),
]
# email, name, role, organization slug ("*" = instance admin)
DEMO_USERS = [
    ("manager@demo.example", "王芳（质量经理）", "manager", "demo"),
    ("member@demo.example", "张伟（检验员）", "member", "demo"),
    ("ehs@demo.example", "陈静（EHS专员）", "member", "demo"),
    ("consultant@demo.example", "赵敏（体系顾问）", "consultant", "demo"),
    ("auditor@demo.example", "孙立（审核员）", "auditor", "demo"),
    ("admin@demo.example", "系统管理员", "admin", "*"),
    ("manager@lvyuan.example", "周杰（管理者代表）", "manager", "lvyuan"),
]


def _ensure_org(db: Session, slug: str, name: str, headcount: int) -> Organization:
    org = db.exec(select(Organization).where(Organization.slug == slug)).first()
    if org is None:
        org = Organization(slug=slug, name=name, headcount=headcount)
        db.add(org)
        db.commit()
    return org


def _ensure_user(db: Session, email: str, name: str, is_admin: bool = False) -> User:
    user = db.exec(select(User).where(User.email == email)).first()
    if user is None:
        user = User(email=email, name=name, password_hash=_demo_hasher.hash(DEMO_PASSWORD), is_admin=is_admin)
        db.add(user)
        db.commit()
    return user


def _ensure_membership(db: Session, user: User, org: Organization, role: str, **kw) -> None:
    exists = db.exec(select(Membership).where(Membership.user_id == user.id, Membership.org_id == org.id,
                                              Membership.role == role)).first()
    if exists is None:
        db.add(Membership(user_id=user.id, org_id=org.id, role=role, **kw))
        db.commit()


# --- moving examples in time ------------------------------------------------------------------------


def _shift(schema: dict, value, delta: timedelta):
    """Move every date / date-time in `value` by `delta`, following the schema."""
    fmt = schema.get("format")
    if isinstance(value, str) and fmt == "date":
        try:
            return (date.fromisoformat(value) + delta).isoformat()
        except ValueError:
            return value
    if isinstance(value, str) and fmt == "date-time":
        try:
            return (datetime.fromisoformat(value) + delta).isoformat()
        except ValueError:
            return value
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        return {k: _shift(props.get(k) or {}, v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(schema.get("items") or {}, v, delta) for v in value]
    return value


def _anchor_field(body: dict) -> str | None:
    sched = body.get("schedule") or {}
    props = body["schema"]["properties"]
    if sched.get("date_field"):
        return sched["date_field"]
    title = (body.get("ui") or {}).get("title_field")
    if title and (props.get(title) or {}).get("format") == "date":
        return title
    return next((k for k, s in props.items() if s.get("format") == "date"), None)


def record_from_example(body: dict, example: dict, on: date, due: date | None = None) -> dict:
    """The example moved so that its main date is `on` (and its due date `due`, if given)."""
    data = copy.deepcopy(example)
    anchor = _anchor_field(body)
    if anchor and isinstance(data.get(anchor), str):
        try:
            delta = on - date.fromisoformat(data[anchor][:10])
        except ValueError:
            delta = timedelta(0)
        data = _shift(body["schema"], data, delta)
    due_field = (body.get("schedule") or {}).get("due_field")
    if due and due_field and due_field in example:  # an example without a due date (licence 长期有效) keeps none
        data[due_field] = due.isoformat()
    return data


# --- the plan of a year --------------------------------------------------------------------------------


def _variant(example: dict, subject_field: str | None, n: int) -> dict:
    """The n-th look-alike of an example: its subject number moved on (JL-0058 -> JL-0065)."""
    if n == 0 or not subject_field or not isinstance(example.get(subject_field), str):
        return example
    bumped = re.sub(r"(\d+)(?!.*\d)", lambda m: str(int(m.group(1)) + 7 * n).zfill(len(m.group(1))),
                    example[subject_field])
    return {**example, subject_field: bumped if bumped != example[subject_field] else f"{bumped}-{n}"}


def plan(body: dict, today: date, rnd: random.Random) -> list[tuple[date, dict, date | None]]:
    """(record date, example, due date) for one template over the last 12 months."""
    examples = body.get("examples") or []
    if not examples:
        return []
    sched = body.get("schedule") or {}
    out: list[tuple[date, dict, date | None]] = []
    if "every_months" in sched:
        n = sched["every_months"]
        # the latest one lies between 1 and n+1 months back: some processes are overdue, most are not
        back = rnd.choice([2, 3, max(1, n - 1), n + 1]) if n > 1 else 1
        d = add_months(today, -back)
        while not out or d > add_months(today, -13):
            out.append((d - timedelta(days=rnd.randint(0, 6)), examples[len(out) % len(examples)], None))
            d = add_months(d, -n)
    elif "due_field" in sched:
        # several subjects (instruments, licences…) made from the examples; each renewed about yearly,
        # the latest with a spread of due dates: one or two expired, a few due soon, most fine
        spreads = [-20, 12, 25, 140, 210, 300, 95, 180]
        subjects = [_variant(ex, sched.get("subject_field"), i // len(examples))
                    for i, ex in enumerate(examples * 3)][: max(len(examples), 8)]
        for i, ex in enumerate(subjects):
            last = today - timedelta(days=rnd.randint(20, 300))
            prev = add_months(last, -12)
            if prev > add_months(today, -13):
                out.append((prev, ex, add_months(prev, 12)))
            due = today + timedelta(days=spreads[(i + rnd.randint(0, 5)) % len(spreads)])
            out.append((last, ex, due))
    else:
        per_month = 2 if len(body["schema"]["properties"]) < 12 else 1
        for m in range(12):
            month_start = add_months(today.replace(day=1), -m)
            for k in range(per_month):
                d = month_start + timedelta(days=rnd.randint(0, 27))
                if d <= today:
                    out.append((d, examples[(m * per_month + k) % len(examples)], None))
    return sorted(out, key=lambda x: x[0])


def _comment_for(spec: dict) -> str:
    return "同意" if spec.get("comment") == "required" else ""


def _seed_records(db: Session, org: Organization, people: dict[str, User], today: date, rnd: random.Random,
                  keys: list[str] | None = None, skipped: list[str] | None = None) -> int:
    skipped = skipped if skipped is not None else []
    made = 0
    for tpl in library.processes(db, org):
        if keys is not None and tpl.key not in keys:
            continue
        body = tpl.body
        validator = record_validator(body["schema"])
        path = workflow.path_to_final(body)
        for on, example, due in plan(body, today, rnd):
            data = record_from_example(body, example, on, due)
            if not validator.is_valid(data):
                data = example
            at = datetime.combine(on, time(1 + rnd.randint(0, 8), rnd.randint(0, 59)), tzinfo=timezone.utc)
            author = people["member"] if rnd.random() < 0.7 else people["ehs"]
            rec = records.create(db, org, tpl, data, author, at=at)
            age = (today - on).days
            steps = path if age > 30 else path[: rnd.randint(0, max(0, len(path) - 1))]
            for i, name in enumerate(steps):
                spec = next(t for t in body["workflow"]["transitions"] if t["name"] == name)
                actor = people["manager"] if "member" not in spec["roles"] else author
                roles = {"manager"} if actor is people["manager"] else {"member"}
                try:
                    workflow.take(db, rec, body, name, actor, roles, comment=_comment_for(spec),
                                  password=DEMO_PASSWORD, at=at + timedelta(days=i + 1, hours=rnd.randint(0, 5)))
                except workflow.WorkflowError as e:  # the example lacks what this step needs: stop here
                    skipped.append(f"{tpl.key}#{rec.id} {name}: {e}")
                    break
            made += 1
        db.commit()
    return made


@dataclass
class SeedReport:
    added_templates: int = 0
    records: int = 0
    skipped_steps: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"library: {self.added_templates} template versions added; demo records created: {self.records}"
        if self.skipped_steps:
            text += f"; workflow steps the examples could not take: {len(self.skipped_steps)}"
        return text


def seed(today: date | None = None) -> SeedReport:
    db = get_session()
    added = library.install_shipped(db)
    today = today or utcnow().date()
    orgs = {slug: _ensure_org(db, slug, name, headcount) for slug, name, headcount in ORGS}
    users: dict[str, User] = {}
    for email, name, role, slug in DEMO_USERS:
        user = _ensure_user(db, email, name, is_admin=(role == "admin"))
        users[email] = user
        if slug == "*":
            continue
        extra = {}
        if role == "auditor":  # remote-audit access window (IAF MD 4), granted by the manager
            extra = {"valid_from": utcnow() - timedelta(days=7), "valid_until": utcnow() + timedelta(days=60)}
        _ensure_membership(db, user, orgs[slug], role, **extra)
    for org in orgs.values():
        library.adopt_library(db, org)
    rnd = random.Random(2026)
    report = SeedReport(added_templates=added)
    demo = orgs["demo"]
    if not db.exec(select(func.count()).select_from(Record).where(Record.org_id == demo.id)).one():
        people = {"manager": users["manager@demo.example"], "member": users["member@demo.example"],
                  "ehs": users["ehs@demo.example"]}
        report.records += _seed_records(db, demo, people, today, rnd, skipped=report.skipped_steps)
    other = orgs["lvyuan"]
    if not db.exec(select(func.count()).select_from(Record).where(Record.org_id == other.id)).one():
        boss = users["manager@lvyuan.example"]
        report.records += _seed_records(db, other, {"manager": boss, "member": boss, "ehs": boss}, today, rnd,
                                        keys=["environmental-aspects", "emergency-drill", "internal-audit"],
                                        skipped=report.skipped_steps)
    # a surveillance audit in progress: the demo auditor's engagement, a drawn sample, one minor NC (idempotent)
    from workbench.audit.service import seed_demo_engagement

    seed_demo_engagement(db, demo, users["manager@demo.example"], users["auditor@demo.example"], today)
    from workbench.cb import demo as cb_demo  # the certification body, its clients and their anomalies (#15)

    report.records += cb_demo.seed(db, today, _demo_hasher.hash(DEMO_PASSWORD))
    return report
