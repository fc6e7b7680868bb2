"""The built wheel, installed without extras into a fresh virtualenv, works from any folder."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.wheel_env import WheelEnv, build_wheel, install_wheel

pytestmark = pytest.mark.integration

# Imports every module of the installed package (but __main__); a module that needs a package the
# base install lacks raises ModuleNotFoundError here.
IMPORT_ALL = """
import importlib, pkgutil, llmlabel
names = [m.name for m in pkgutil.walk_packages(llmlabel.__path__, "llmlabel.")
         if not m.name.endswith(".__main__")]  # __main__ runs the CLI
for name in names:
    importlib.import_module(name)
print(len(names), llmlabel.__file__)
"""


@pytest.fixture(scope="session")
def base_wheel_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WheelEnv]:
    """The wheel and its base dependencies only (no `local`, no `test` extra)."""
    root = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(root / "dist")
    yield install_wheel(wheel, root / "venv")


def test_every_module_imports_with_base_dependencies_only(
    base_wheel_env: WheelEnv, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(base_wheel_env.python), "-c", IMPORT_ALL],
        check=False, cwd=tmp_path, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    count, location = result.stdout.split()
    assert int(count) > 50
    assert str(base_wheel_env.root) in location  # the installed copy, not the source tree


def test_cli_starts_from_an_empty_folder(base_wheel_env: WheelEnv, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(base_wheel_env.llmlabel), "--help"],
        check=False, cwd=tmp_path, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    for command in ("label", "eval", "serve", "worker"):
        assert command in result.stdout
