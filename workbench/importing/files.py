"""Uploaded import files, kept on the server between preview and commit: `<instance>/imports/<org id>/<sha256>`
(the organization's own folder: one tenant cannot name another's file), with the original file name beside it."""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask_babel import gettext as _

from workbench.errors import NotFound, UserError

MAX_BYTES = 10 * 1024 * 1024
_SHA = re.compile(r"[0-9a-f]{64}")


@dataclass
class Stored:
    sha256: str
    filename: str
    path: Path
    kind: str  # "xlsx" | "csv"


def _folder(root: str | Path, org_id: int) -> Path:
    d = Path(root) / "imports" / str(int(org_id))
    d.mkdir(parents=True, exist_ok=True)
    return d


def save(root: str | Path, org_id: int, stream: BinaryIO, filename: str, max_bytes: int = MAX_BYTES) -> Stored:
    """Copy the upload to the organization's folder in chunks while hashing it; larger than max_bytes: 413."""
    folder = _folder(root, org_id)
    h, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    head = b""
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    raise UserError(_("The file is larger than %(mb)s MB.", mb=max_bytes // (1024 * 1024)), status=413)
                head = head or chunk[:4]
                h.update(chunk)
                out.write(chunk)
        sha = h.hexdigest()
        path = folder / sha
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    name = Path(str(filename or "import").replace("\\", "/")).name[:200] or "import"
    kind = "xlsx" if head.startswith(b"PK\x03\x04") else "csv"
    (folder / f"{sha}.json").write_text(json.dumps({"filename": name, "kind": kind}), encoding="utf-8")
    return Stored(sha, name, path, kind)


def load(root: str | Path, org_id: int, sha256: str) -> Stored:
    """A file this organization uploaded (404 for anything else, including another organization's hash)."""
    sha = str(sha256 or "")
    if not _SHA.fullmatch(sha):
        raise NotFound(_("The uploaded file is no longer available; upload it again."))
    folder = _folder(root, org_id)
    path, meta = folder / sha, folder / f"{sha}.json"
    if not path.is_file() or not meta.is_file():
        raise NotFound(_("The uploaded file is no longer available; upload it again."))
    m = json.loads(meta.read_text(encoding="utf-8"))
    return Stored(sha, m["filename"], path, m["kind"])


def save_path(root: str | Path, org_id: int, path: Path, max_bytes: int = MAX_BYTES) -> Stored:
    with open(path, "rb") as f:
        return save(root, org_id, f, path.name, max_bytes)
