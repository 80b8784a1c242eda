"""The evidence bundle (issue #9.3): built from an engagement (CLI and the auditor's download), verified by
its own verify.py under a plain `python3 -I -S` (standard library only, no site-packages); changing one byte
of any revision, event or attachment is detected and located; the chain segment stays bounded."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlmodel import select

from tests.conftest import PASSWORD, load_fixture
from tests.sample_frames import frame_of
from tests.test_trail_anchoring import Actor, engagement
from workbench import attachments, records, workflow
from workbench.audit import sampling, seals, service
from workbench.audit.bundle import verify_script
from workbench.models import Event

KS = load_fixture("kitchen-sink.json")
TODAY = date.today()
PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or shutil.which("python3")


@pytest.fixture
def bundle_zip(app, db, world, tmp_path):
    """30 records (some edited, submitted and released, every third with an attachment), an engagement with a
    stratified sample, a check, a finding and a report seal; the bundle written by the CLI."""
    tpl = world.add_template(KS, world.acme)
    member, manager, auditor = (Actor(world.users[r]) for r in ("member", "manager", "auditor"))
    with app.test_request_context():
        early = records.create(db, world.acme, tpl, {"batch_no": "OLD", "inspected_on": "2020-01-01", "result": "pass",
                                                      "quantity": 1}, member)  # outside the period: never sampled
        recs = []
        for i in range(30):
            rec = records.create(db, world.acme, tpl, {"batch_no": f"B{i:03d}", "inspected_on": (TODAY - timedelta(days=9 * i)).isoformat(),
                                                        "result": "pass", "quantity": i + 1, "temperature": 20.5 + i / 4}, member)
            if i % 3 == 0:
                att = attachments.store(db, world.acme.id, f"证书 {i}.pdf", b"%PDF-1.4 certificate " + bytes([i]) * 50,
                                        "application/pdf", member)
                attachments.link_to_record(db, att, rec.id, "certificate", member)
            if i % 4 == 0:
                records.edit(db, rec, tpl, dict(rec.data, quantity=100 + i, release_by="王芳"), member, comment="fix")
                workflow.take(db, rec, tpl.body, "submit", member, {"member"}, password=PASSWORD)
            recs.append(rec)
        db.commit()
        e = engagement(db, world)
        s = sampling.create_sample(db, e, {"start": (TODAY - timedelta(days=365)).isoformat(), "end": TODAY.isoformat(),
                                           "process": "kitchen-sink"},
                                   sampling.make_rule("sqrt", audit_type="initial", stratify="month"), 20260315, auditor)
        sampling.extend_sample(db, s, 2, auditor)
        service.mark_conforming(db, e, db.get(records.Record, s.drawn[0]), auditor, "ok")
        service.raise_finding(db, e, auditor, grade="minor", standard="ISO 9001:2015", clause="8.5.1",
                              statement="gauge id missing", evidence=[s.drawn[1]], sample_id=s.id)
        seals.seal(db, e, "report", manager)
        records.create(db, world.acme, tpl, {"batch_no": "AFTER", "inspected_on": TODAY.isoformat(), "result": "pass",
                                             "quantity": 3}, member)  # after the report seal
        db.commit()
    from workbench.cli import main

    path = tmp_path / "bundle.zip"
    out = CliRunner().invoke(main, ["audit", "bundle", str(e.id), "-o", str(path)], obj=ScriptInfo(create_app=lambda: app))
    assert out.exit_code == 0, out.output
    world.sample, world.engagement, world.early = s, e, early
    return path


def run_verify(path, cwd=None) -> subprocess.CompletedProcess:
    """verify.py with the system Python, isolated (-I) and without site-packages (-S): standard library only."""
    if cwd is None:
        cwd = path.parent / "x"
        shutil.rmtree(cwd, ignore_errors=True)
        with zipfile.ZipFile(path) as z:
            z.extractall(cwd)
    return subprocess.run([PYTHON, "-I", "-S", "verify.py"], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_untouched_bundle_verifies_with_plain_python(bundle_zip, world):
    assert PYTHON and ".venv" not in PYTHON
    r = run_verify(bundle_zip)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("OK:") and "re-drawn identically" in r.stdout
    m = json.loads(zipfile.ZipFile(bundle_zip).read("manifest.json"))
    assert [s["kind"] for s in m["seals"]] == ["open", "report"]
    for s in m["seals"]:
        assert f"event #{s['seq']} {s['hash']}" in r.stdout
    [sample] = m["samples"]
    assert sample["payload"]["drawn"] == world.sample.drawn and sample["seed"] == 20260315
    assert sample["frame_digest"] == sample["payload"]["frame_digest"] == world.sample.frame_digest
    frame = zipfile.ZipFile(bundle_zip).read(sample["frame_file"]).decode()
    assert [int(line.split("\t")[0]) for line in frame.splitlines()] == frame_of(world.db, world.sample)[0]
    assert {r_["id"] for r_ in m["records"]} == set(world.sample.drawn)
    assert m["engagement"]["standards"] == ["ISO 9001:2015"] and m["engagement"]["period"][1] == TODAY.isoformat()
    # bounded: the segment starts at the oldest sampled record, not at the organization's first event
    assert m["chain"]["from_seq"] > 1 and world.early.id not in {r_["id"] for r_ in m["records"]}
    names = zipfile.ZipFile(bundle_zip).namelist()
    assert "report.html" in names and "verify.py" in names and any(n.startswith("attachments/") for n in names)
    # the zip itself can be given to verify.py too
    direct = subprocess.run([PYTHON, "-I", "-S", str(bundle_zip.parent / "x" / "verify.py"), str(bundle_zip)],
                            capture_output=True, text=True, timeout=120)
    assert direct.returncode == 0, direct.stdout


def flip_byte(path, member, at=None) -> str:
    """Rewrite the zip with one byte of `member` changed (default: in the middle)."""
    with zipfile.ZipFile(path) as z:
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    out = path.with_name("tampered.zip")
    with zipfile.ZipFile(out, "w") as z:
        for info, data in items:
            if info.filename == member:
                pos = len(data) // 2 if at is None else at
                data = data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1:]
            z.writestr(info, data)
    return out


def members(path, prefix):
    return [n for n in zipfile.ZipFile(path).namelist() if n.startswith(prefix)]


@pytest.mark.parametrize("kind", ["revision", "attachment", "chain", "chain-whitespace", "report", "frame"])
def test_one_changed_byte_is_detected_and_located(bundle_zip, kind):
    if kind == "frame":  # the sample's frozen frame (algorithm 2: a file of its lines)
        member = members(bundle_zip, "frames/")[0]
    elif kind == "revision":
        member = members(bundle_zip, "records/")[-1]
    elif kind == "attachment":
        member = members(bundle_zip, "attachments/")[0]
    elif kind == "report":
        member = "report.html"
    else:
        member = "chain.jsonl"
    at = None
    if kind == "chain-whitespace":  # a byte that keeps the JSON equal: ',' -> '-' would break it; use the ':' after a key
        raw = zipfile.ZipFile(bundle_zip).read(member)
        at = raw.index(b'"comment":"') + len('"comment":"') - 1  # the opening quote of a value: '"' ^ 1 = '#'
    tampered = flip_byte(bundle_zip, member, at)
    r = run_verify(tampered)
    assert r.returncode == 1, r.stdout
    assert r.stdout.startswith(f"FAILED: {member}"), r.stdout


def test_every_single_byte_of_a_revision_matters(bundle_zip):
    member = members(bundle_zip, "records/")[0]
    size = len(zipfile.ZipFile(bundle_zip).read(member))
    for at in (0, size // 3, size - 1):
        r = run_verify(flip_byte(bundle_zip, member, at))
        assert r.returncode == 1 and member in r.stdout, (at, r.stdout)


def test_changed_event_content_is_located_by_line_and_sequence(bundle_zip):
    raw = zipfile.ZipFile(bundle_zip).read("chain.jsonl")
    lines = raw.split(b"\n")
    row = json.loads(lines[3])
    row["event"]["comment"] = "edited in the bundle"
    lines[3] = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    out = _replace(bundle_zip, "chain.jsonl", b"\n".join(lines))
    r = run_verify(out)
    assert r.returncode == 1 and f"chain.jsonl line 4 (event #{row['event']['seq']})" in r.stdout
    assert "hash mismatch" in r.stdout


def _replace(path, member, data):
    with zipfile.ZipFile(path) as z:
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    out = path.with_name("replaced.zip")
    with zipfile.ZipFile(out, "w") as z:
        for info, content in items:
            z.writestr(info, data if info.filename == member else content)
    return out


def test_a_forged_sample_is_re_drawn_and_refused(bundle_zip):
    m = json.loads(zipfile.ZipFile(bundle_zip).read("manifest.json"))
    p = m["samples"][0]["payload"]
    p["drawn"][0], p["drawn"][1] = p["drawn"][1], p["drawn"][0]
    r = run_verify(_replace(bundle_zip, "manifest.json", json.dumps(m).encode()))
    assert r.returncode == 1 and r.stdout.startswith("FAILED: manifest.json sample 1"), r.stdout


def test_a_moved_seal_is_refused(bundle_zip):
    m = json.loads(zipfile.ZipFile(bundle_zip).read("manifest.json"))
    m["seals"][1]["hash"] = "0" * 64
    r = run_verify(_replace(bundle_zip, "manifest.json", json.dumps(m).encode()))
    assert r.returncode == 1 and "seal 'report'" in r.stdout and "history rewritten" in r.stdout


def test_bundle_download_is_for_the_audit_team_only(bundle_zip, world, client_for):
    eid = world.engagement.id
    service.add_auditor  # the auditor of acme is put on the team below
    from workbench.audit.models import TeamMember

    db = world.db
    db.add(TeamMember(engagement_id=eid, user_id=world.users["auditor"].id))
    db.commit()
    resp = client_for("auditor").get(f"/o/acme/audit/e/{eid}/bundle.zip")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(resp.data))
    assert "verify.py" in z.namelist()
    page = client_for("auditor").get(f"/o/acme/audit/e/{eid}/").get_data(as_text=True)
    assert "evidence-bundle" in page
    assert client_for("manager").get(f"/o/acme/audit/e/{eid}/bundle.zip").status_code == 403
    assert client_for("member").get(f"/o/acme/audit/e/{eid}/bundle.zip").status_code in (403, 404)


def test_verify_script_is_standard_library_only():
    src = verify_script()
    compile(src, "verify.py", "exec")
    imports = {line.split()[1].split(".")[0] for line in src.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "hashlib", "json", "math", "os", "random", "sys", "zipfile", "collections", "fractions"}, imports
