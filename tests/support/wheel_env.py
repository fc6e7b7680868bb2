"""A fresh virtualenv holding only the built llmlabel wheel (and one extra, if asked).

What a user gets from `pip install llmlabel[...]`: nothing of the source tree,
nothing of the test extras. Tests run the installed `llmlabel` from empty
folders, so a missing runtime dependency or package-data file fails them.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class WheelEnv:
    """A virtualenv with the wheel installed: its interpreter and console script."""

    root: Path
    wheel: Path | None = None

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def llmlabel(self) -> Path:
        return self.root / "bin" / "llmlabel"


def wheel_files(wheel: Path) -> list[str]:
    """The paths a wheel holds."""
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def build_wheel(out_dir: Path) -> Path:
    """Build llmlabel's wheel from the source tree into `out_dir`; its path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out_dir), str(REPO_ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    wheels = sorted(out_dir.glob("llmlabel-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one llmlabel wheel in {out_dir}, found {wheels}")
    return wheels[0]


def install_wheel(wheel: Path, root: Path, *, extra: str | None = None) -> WheelEnv:
    """A new virtualenv at `root` with `wheel` (plus `extra`) and its dependencies from the index."""
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    env = WheelEnv(root, wheel)
    target = f"{wheel}[{extra}]" if extra else str(wheel)
    result = subprocess.run(
        [str(env.python), "-m", "pip", "install", "-q", "--disable-pip-version-check", target],
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip install {target} failed:\n{result.stdout}\n{result.stderr}")
    return env
