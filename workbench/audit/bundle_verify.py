#!/usr/bin/env python3
"""Verify a ProcessBench evidence bundle offline, with the Python standard library alone.

Usage: unzip the bundle, then `python3 verify.py` in its folder (or `python3 verify.py BUNDLE.zip`).
It recomputes every event hash of chain.jsonl and the links between them, checks that the chain passes
through every sealed head listed in manifest.json, recomputes the digest of every revision and attachment
against the event that recorded it, recomputes each sample's digest against its event and re-draws the
sample from its seed and frozen frame. It prints the first problem with its location and exits 1, or
prints a summary and exits 0. Compare the sealed heads it prints with the ones in the audit report you
received: they are what anchors this bundle outside the organization's database.
(This file is generated: the JCS canonicalization and the seeded draw below are copied from ProcessBench.)
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import zipfile
from collections.abc import Sequence
from fractions import Fraction


def _(text, **params):
    return text % params if params else text


# @@EMBEDDED@@


class Problem(Exception):
    def __init__(self, where, reason):
        super().__init__(f"{where}: {reason}")


def canonical(obj, scheme):
    if scheme == 1:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if scheme == 2:
        return dumps(obj)
    raise ValueError(f"unknown scheme {scheme}")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Bundle:
    def __init__(self, source):
        self.zip = zipfile.ZipFile(source) if source and os.path.isfile(source) else None
        self.root = source if self.zip is None else None

    def read(self, name):
        try:
            if self.zip is not None:
                return self.zip.read(name)
            with open(os.path.join(self.root, *name.split("/")), "rb") as f:
                return f.read()
        except (KeyError, OSError):
            raise Problem(name, "is missing from the bundle") from None


def check_chain(b, m):
    chain = m["chain"]
    raw = b.read(chain["file"])
    events, prev, expected = {}, None, chain["from_seq"]
    for n, text in enumerate(raw.split(b"\n")[:-1] if raw.endswith(b"\n") else raw.split(b"\n"), start=1):
        where = f"{chain['file']} line {n}"
        try:
            row = json.loads(text.decode("utf-8"))
        except ValueError:
            raise Problem(where, "is not valid UTF-8 JSON (changed)") from None
        if json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8") != text:
            raise Problem(where, "is not in its canonical form (changed)")
        ev, scheme = row.get("event") or {}, row.get("scheme")
        where = f"{where} (event #{ev.get('seq')})"
        if ev.get("seq") != expected:
            raise Problem(where, f"expected event #{expected} (events missing or re-ordered)")
        if ev.get("org_id") != chain["org_id"]:
            raise Problem(where, "belongs to another organization")
        if scheme == 2 and ev.get("scheme") != 2:
            raise Problem(where, "its scheme does not match its content")
        try:
            actual = sha256(canonical(ev, scheme))
        except ValueError as exc:
            raise Problem(where, f"cannot be canonicalized ({exc})") from None
        if actual != row.get("hash"):
            raise Problem(where, "content changed after it was written (hash mismatch)")
        if prev is not None and ev.get("prev_hash") != prev:
            raise Problem(where, "does not link to the previous event")
        prev, expected = row["hash"], expected + 1
        events[ev["seq"]] = (row["hash"], scheme, ev)
    if len(events) != chain["events"] or (events and expected - 1 != chain["to_seq"]):
        raise Problem(chain["file"], f"holds {len(events)} events; the manifest says {chain['events']} up to #{chain['to_seq']}")
    if events and prev != chain["head_hash"]:
        raise Problem(chain["file"], "does not end at the manifest's head hash")
    for s in m["seals"]:
        where = f"manifest.json seal '{s['kind']}' (event #{s['seq']})"
        if s["seq"] == 0:
            continue
        if s["seq"] not in events:
            raise Problem(where, "is not inside the chain segment")
        if events[s["seq"]][0] != s["hash"]:
            raise Problem(where, "the chain does not pass through this sealed head (history rewritten)")
    return events


def last_event(events, match):
    found = None
    for seq in sorted(events):
        if match(events[seq][2]):
            found = events[seq]
    return found


def check_records(b, m, events):
    sampled = {int(i) for s in m["samples"] for i in s["payload"]["drawn"]}
    listed = {r["id"]: r for r in m["records"]}
    for rid in sorted(sampled - set(listed)):
        raise Problem(f"record {rid}", "was sampled but is missing from the bundle")
    files = 0
    for rec in m["records"]:
        rid = rec["id"]
        revisions = {rv["number"]: rv for rv in rec["revisions"]}
        for seq in sorted(events):
            ev = events[seq][2]
            rev = (ev.get("detail") or {}).get("revision")
            if ev.get("record_id") == rid and ev.get("action") in ("create", "edit") and rev is not None \
                    and int(rev) not in revisions:
                raise Problem(f"record {rid} revision {rev}", f"is recorded by event #{seq} but missing from the bundle")
        for number, rv in sorted(revisions.items()):
            data = b.read(rv["file"])
            ev = events.get(rv["event_seq"])
            if ev is None or ev[2].get("record_id") != rid or int((ev[2].get("detail") or {}).get("revision", -1)) != number:
                raise Problem(rv["file"], f"is not recorded by event #{rv['event_seq']} of the chain")
            if sha256(data) != ev[2].get("data_digest"):
                raise Problem(rv["file"], f"differs from the digest event #{rv['event_seq']} recorded (changed)")
            files += 1
        for att in rec["attachments"]:
            data = b.read(att["file"])
            ev = events.get(att["event_seq"])
            if ev is None or ev[2].get("action") != "attach" or (ev[2].get("detail") or {}).get("attachment") != att["id"]:
                raise Problem(att["file"], f"is not recorded by event #{att['event_seq']} of the chain")
            if sha256(data) != ev[2].get("data_digest"):
                raise Problem(att["file"], f"differs from the digest event #{att['event_seq']} recorded (changed)")
            files += 1
        state = last_event(events, lambda e: e.get("record_id") == rid and e.get("to_state"))
        if state is not None and state[2]["to_state"] != rec["state"]:
            raise Problem(f"manifest.json record {rid}", f"state '{rec['state']}' differs from the chain's '{state[2]['to_state']}'")
    return files


def check_samples(b, m, events):
    for s in m["samples"]:
        p = s["payload"]
        where = f"manifest.json sample {s['number']} (id {s['id']})"
        ev = last_event(events, lambda e: e.get("action") in ("audit_sample", "audit_sample_more")
                        and (e.get("detail") or {}).get("sample") == s["id"])
        if ev is None:
            raise Problem(where, "is not recorded in the chain segment")
        if sha256(canonical(p, ev[1])) != ev[2].get("data_digest"):
            raise Problem(where, f"differs from the sample event #{ev[2]['seq']} recorded (changed)")
        counts = p["draws"]
        if sum(counts) != len(p["drawn"]):
            raise Problem(where, "the draw history does not add up to the sample's size")
        if p.get("algorithm") == "processbench-sample-2":  # the frame is a file of lines, pinned by the payload's digest
            if p["frame_digest"] != s["frame_digest"]:
                raise Problem(where, "its frame digest differs from the one in its recorded payload")
            frame = b.read(s["frame_file"])
            if sha256(frame) != p["frame_digest"]:
                raise Problem(s["frame_file"], f"differs from the frame digest sample {s['number']} recorded (changed)")
            problems = verify_frame_draw([frame], p["rule"], p["seed"], p["drawn"],
                                         counts[0] if counts else len(p["drawn"]), p["population_size"], p["strata"],
                                         p["frame_digest"])
            if problems:
                raise Problem(where, f"re-drawing from its seed and frame ({s['frame_file']}): " + problems[0])
            continue
        frame = sha256(dumps({"ids": [int(i) for i in p["population_ids"]], "strata": list(p["strata"])}))
        if frame != s["frame_digest"]:
            raise Problem(where, "its frame digest does not match its frame")
        if p["rule"].get("kind") not in ("sqrt", "fixed", "percent"):
            continue  # not a random draw (judgement sample): membership only
        problems = verify_draw(p["population_ids"], p["strata"], p["rule"], p["seed"], p["drawn"],
                               counts[0] if counts else len(p["drawn"]), p["population_size"])
        if problems:
            raise Problem(where, "re-drawing from its seed and frame: " + problems[0])


def check_engagement(m, events):
    e = m["engagement"]
    ev = last_event(events, lambda x: x.get("action") == "audit_engagement" and (x.get("detail") or {}).get("engagement") == e["id"])
    if ev is None:
        return
    d = ev[2]["detail"]
    for key, have in (("title", e["title"]), ("standards", e["standards"]), ("period", e["period"])):
        if d.get(key) != have:
            raise Problem(f"manifest.json engagement {key}", f"differs from what event #{ev[2]['seq']} recorded")


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    b = Bundle(argv[1] if len(argv) > 1 else here)
    try:
        try:
            m = json.loads(b.read("manifest.json").decode("utf-8"))
        except ValueError:
            raise Problem("manifest.json", "is not valid UTF-8 JSON (changed)") from None
        if m.get("format") != "processbench-evidence-bundle-1":
            raise Problem("manifest.json", f"unknown format {m.get('format')!r}")
        events = check_chain(b, m)
        files = check_records(b, m, events)
        check_samples(b, m, events)
        check_engagement(m, events)
        report = b.read(m["report"]["file"])
        if sha256(report) != m["report"]["sha256"]:
            raise Problem(m["report"]["file"], "differs from its digest in the manifest (changed)")
    except Problem as p:
        print(f"FAILED: {p}")
        return 1
    except (KeyError, TypeError, ValueError) as exc:
        print(f"FAILED: manifest.json: malformed ({type(exc).__name__}: {exc})")
        return 1
    c = m["chain"]
    print(f"OK: {c['events']} events #{c['from_seq']}–#{c['to_seq']} recomputed and linked; {files} revision and "
          f"attachment files match their events; {len(m['samples'])} sample(s) re-drawn identically.")
    for s in m["seals"]:
        print(f"  sealed head ({s['kind']}, {s['sealed_at']}): event #{s['seq']} {s['hash']}")
    print(f"  chain head in this bundle: event #{c['to_seq']} {c['head_hash']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
