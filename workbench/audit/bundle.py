"""The evidence bundle: one zip a certification body can verify offline with a plain `python3 verify.py`.

Contents (format: docs/evidence-bundle.md): `manifest.json` (engagement, standards, period, every sample's
definition, rule, seed, frozen frame, frame digest and drawn ids, the sealed heads), `chain.jsonl` (the chain
segment from the earliest event of a sampled record — or the earliest seal — to the current head, one
event per line), each sampled record's revisions (`records/<id>/revision-<n>.json`, the exact canonical
bytes whose SHA-256 its event recorded) and attachments, `report.html` (+ `report.css`) and `verify.py`
(standard library only; it embeds workbench/jcs.py and the seeded draw of workbench/audit/sampling.py,
copied from the running code so the two can never drift apart).

The segment is bounded by the sample, not by the organization's history: it starts at the first event of the
oldest sampled record. Events of other records inside the segment are included in full, since their hashes
link the sampled records' events to the sealed head.
"""
from __future__ import annotations

import hashlib
import inspect
import io
import json
import re
import zipfile
from pathlib import Path

from flask import render_template
from sqlmodel import Session, func, select

from workbench import jcs, trail
from workbench.audit import frames, sampling, seals
from workbench.audit.models import Engagement, Sample
from workbench.integrity import stream_events
from workbench.models import Attachment, Event, Organization, Record, Revision, utcnow

FORMAT = "processbench-evidence-bundle-1"
VERIFY_TEMPLATE = Path(__file__).with_name("bundle_verify.py")
EMBED_MARK = "# @@EMBEDDED@@"
DRAW_FUNCTIONS = (sampling.ceil_isqrt, sampling.bounded, sampling.sqrt_size, sampling.rule_size, sampling.sample_size,
                  sampling.shuffled, sampling.seat_order, sampling.draw_order, sampling.judgement_problems,
                  sampling.verify_draw,
                  frames.stratum_rng, frames.positions, frames.draw_places, frames.scan_frame, frames.verify_frame_draw)


def frame_digest(sample: Sample) -> str:
    """SHA-256 of the frozen sampling frame: for algorithm 2 the stored digest of its lines (workbench.audit.frames),
    for algorithm 1 that of the JCS of {"ids": sorted record ids, "strata": parallel strata or []}."""
    if sampling.is_v2(sample):
        return sample.frame_digest
    return hashlib.sha256(jcs.dumps({"ids": [int(i) for i in sample.population_ids],
                                     "strata": list(sample.strata)})).hexdigest()


def line(obj) -> str:
    """One line of chain.jsonl: sorted keys, no spaces, UTF-8 (verify.py insists on exactly this form)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def verify_script() -> str:
    """verify.py: the template with the JCS module and the seeded-draw functions pasted in."""
    parts = [VERIFY_TEMPLATE.read_text(encoding="utf-8").split(EMBED_MARK)]
    embedded = ["# --- workbench/jcs.py ---", Path(jcs.__file__).read_text(encoding="utf-8"),
                "# --- the seeded draw, from workbench/audit/sampling.py ---",
                f"ALGORITHM = {sampling.ALGORITHM!r}",
                "SQRT_FACTORS = {" + ", ".join(f"{k!r}: Fraction({v.numerator}, {v.denominator})"
                                               for k, v in sampling.SQRT_FACTORS.items()) + "}"]
    embedded += [inspect.getsource(fn) for fn in DRAW_FUNCTIONS]
    head, tail = parts[0]
    return head + "\n\n".join(embedded) + "\n" + tail


def _safe(name: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", name, flags=re.ASCII).strip("._")[:80] or "file"


def build(db: Session, e: Engagement, lang: str = "zh") -> bytes:
    """The zip (bytes). Needs an app context (renders the report); reads only."""
    org = db.get(Organization, e.org_id)
    samples = list(db.exec(select(Sample).where(Sample.engagement_id == e.id).order_by(Sample.number)).all())
    record_ids = sorted({int(i) for s in samples for i in s.drawn})
    sealed = seals.seals_of(db, e)
    head = trail.head(db, e.org_id)
    end = head.seq if head else 0
    starts = [s.seq for s in sealed if s.seq] + [end or 1]
    for i in range(0, len(record_ids), 500):
        first = db.exec(select(func.min(Event.seq)).where(Event.org_id == e.org_id,
                                                           Event.record_id.in_(record_ids[i:i + 500]))).one()
        if first:
            starts.append(first)
    start = min(starts)

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        # the chain segment, streamed
        record_events: dict[int, list[int]] = {rid: [] for rid in record_ids}
        revision_events: dict[tuple[int, int], int] = {}
        attach_events: dict[int, int] = {}
        n = 0
        with z.open("chain.jsonl", "w") as out:
            for ev in stream_events(db, e.org_id, after=start - 1, upto=end):
                out.write((line({"hash": ev.hash, "scheme": trail.scheme_of(ev), "event": trail.event_payload(ev)})
                           + "\n").encode("utf-8"))
                n += 1
                if ev.record_id in record_events:
                    record_events[ev.record_id].append(ev.seq)
                    d = ev.detail or {}
                    if ev.action in ("create", "edit") and d.get("revision") is not None:
                        revision_events[(ev.record_id, int(d["revision"]))] = ev.seq
                    if ev.action == "attach" and d.get("attachment") is not None:
                        attach_events[int(d["attachment"])] = ev.seq
        events_by_seq = {}
        wanted = sorted(set(revision_events.values()))
        for i in range(0, len(wanted), 500):
            for ev in db.exec(select(Event).where(Event.org_id == e.org_id, Event.seq.in_(wanted[i:i + 500]))).all():
                events_by_seq[ev.seq] = ev

        records_out = []
        for rid in record_ids:
            rec = db.get(Record, rid)
            if rec is None:
                continue
            entry = {"id": rid, "template": rec.template_key, "state": rec.state, "title": rec.title,
                     "record_date": rec.record_date.isoformat() if rec.record_date else None,
                     "events": record_events.get(rid, []), "revisions": [], "attachments": []}
            for rv in db.exec(select(Revision).where(Revision.record_id == rid).order_by(Revision.number)).all():
                seq = revision_events.get((rid, rv.number))
                if seq is None:  # written after the segment's head
                    continue
                path = f"records/{rid}/revision-{rv.number}.json"
                z.writestr(path, trail.canonical_bytes(rv.data, trail.scheme_of(events_by_seq[seq])))
                entry["revisions"].append({"number": rv.number, "file": path, "event_seq": seq})
            for att in db.exec(select(Attachment).where(Attachment.record_id == rid).order_by(Attachment.id)).all():
                if att.id not in attach_events:
                    continue
                path = f"attachments/{att.id}-{_safe(att.filename)}"
                z.writestr(path, att.content)
                entry["attachments"].append({"id": att.id, "filename": att.filename, "file": path,
                                             "event_seq": attach_events[att.id]})
            records_out.append(entry)

        frame_files = {}
        for s in samples:  # algorithm 2: the frozen frame as a file of its lines, streamed from its chunks
            if sampling.is_v2(s):
                frame_files[s.id] = f"frames/sample-{s.number}.txt"
                with z.open(frame_files[s.id], "w") as out:
                    for data in frames.chunks(db, s.id):
                        out.write(data)

        report_html = _report_html(db, org, e, lang).encode("utf-8")
        z.writestr("report.html", report_html)
        css = Path(__file__).resolve().parent.parent.parent / "static" / "app.css"
        if css.exists():
            z.writestr("report.css", css.read_bytes())
        manifest = {
            "format": FORMAT, "generated_at": trail.stamp(utcnow()),
            "organization": {"id": org.id, "slug": org.slug, "name": org.name},
            "engagement": {"id": e.id, "title": e.title, "audit_body": e.audit_body, "standards": e.standards,
                           "audit_type": e.audit_type, "period": [e.period_start.isoformat(), e.period_end.isoformat()],
                           "scope_processes": e.scope_processes, "scope_clauses": e.scope_clauses},
            "chain": {"file": "chain.jsonl", "org_id": org.id, "from_seq": start if n else 0, "to_seq": end if n else 0,
                      "events": n, "head_hash": head.hash if head else trail.GENESIS},
            "seals": [{"kind": s.kind, "seq": s.seq, "hash": s.hash, "scheme": s.scheme,
                       "sealed_at": trail.stamp(s.sealed_at), "extends": s.extends} for s in sealed],
            "samples": [{"id": s.id, "number": s.number, "seed": int(s.seed), "frame_digest": frame_digest(s),
                         "payload": sampling.payload(s), **({"frame_file": frame_files[s.id]} if s.id in frame_files else {})}
                        for s in samples],
            "records": records_out,
            "report": {"file": "report.html", "sha256": hashlib.sha256(report_html).hexdigest()},
        }
        z.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        z.writestr("verify.py", verify_script())
    return buf.getvalue()


def _report_html(db: Session, org: Organization, e: Engagement, lang: str) -> str:
    from workbench.audit import readiness as readiness_mod
    from workbench.audit import report as report_mod

    rep = report_mod.gather(db, org, e, lang)
    return render_template("audit/report_bundle.html", e=e, rep=rep, describe_rule=sampling.describe_rule,
                           definition_text=lambda d: report_mod.definition_text(d, rep.titles),
                           check_title=readiness_mod.check_title, status_label=report_mod.readiness_status_label)
