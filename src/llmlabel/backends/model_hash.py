"""sha256 checks of assembled model files, remembered in a sidecar so a worker hashes once.

Hashing the 1.1 GB default model takes seconds of disk and CPU; every worker
start would pay it. So the verified result is written next to the model as
`.<name>.sha256` (JSON: sha256, size, mtime_ns, inode) and trusted while the
file keeps that size, mtime and inode. What that trusts: a file changed in
place by anything that keeps all three (bit rot on disk, or someone with write
access to the models directory who also resets the mtime) is not hashed
again. Delete the sidecar to force a new check.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO

__all__ = ["copy_hashing", "recorded_sha256", "remember_sha256", "sha256_file", "sidecar_of"]

_READ_BYTES = 8 * 1024 * 1024


def sidecar_of(path: Path) -> Path:
    """Where the verified hash of `path` is remembered."""
    return path.parent / f".{path.name}.sha256"


def _stamp(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in large blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


def copy_hashing(sources: list[Path], target: IO[bytes]) -> str:
    """Append the files to `target` in order; the hex sha256 of everything written."""
    digest = hashlib.sha256()
    for source in sources:
        with source.open("rb") as handle:
            while block := handle.read(_READ_BYTES):
                digest.update(block)
                target.write(block)
    return digest.hexdigest()


def recorded_sha256(path: Path) -> str | None:
    """The sha256 remembered for `path`, if the file still has the size, mtime and inode it had."""
    try:
        record = json.loads(sidecar_of(path).read_text())
        stamp = _stamp(path)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or any(record.get(k) != v for k, v in stamp.items()):
        return None
    value = record.get("sha256")
    return value if isinstance(value, str) else None


def remember_sha256(path: Path, sha256: str) -> None:
    """Write the sidecar for `path` (atomically; a failure to write only costs a later re-hash)."""
    sidecar = sidecar_of(path)
    temp: str | None = None
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f"{sidecar.name}.")
        with os.fdopen(fd, "w") as handle:
            json.dump({"sha256": sha256, **_stamp(path)}, handle)
        os.replace(temp, sidecar)
    except OSError:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
