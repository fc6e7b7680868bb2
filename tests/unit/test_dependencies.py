"""Every third-party import under src/ is declared in pyproject.toml, and nothing declared is unused.

A dependency that only arrives transitively (httpx through the test extras,
jinja2 through llama-cpp-python) works on the machine it was written on and
fails for a new user; this reads the source, so it fails here first. Removing
any runtime dependency from pyproject.toml makes it fail as well.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from llmlabel.backends.local_models import ALIASES

REPO_ROOT = Path(__file__).resolve().parents[2]
SRC = REPO_ROOT / "src" / "llmlabel"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", spec.strip())
    assert match, spec
    return normalize(match.group(0))


def declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    base = {requirement_name(spec) for spec in project["dependencies"]}
    extras = {
        extra: {requirement_name(spec) for spec in specs}
        for extra, specs in project.get("optional-dependencies", {}).items()
    }
    return base, extras


def imports_of(path: Path) -> tuple[set[str], set[str]]:
    """(top-level modules imported at module level, those imported only inside functions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    eager: set[str] = set()
    lazy: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name.split(".")[0] for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module.split(".")[0]]
            (lazy if in_function else eager).update(names)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return eager, lazy - eager


def third_party(modules: set[str]) -> set[str]:
    return {m for m in modules if m not in sys.stdlib_module_names and m not in {"llmlabel", "__future__"}}


@lru_cache(maxsize=1)
def installed_modules() -> dict[str, list[str]]:
    # Reading every installed distribution's RECORD is slow: once per run.
    return dict(metadata.packages_distributions())


def distribution_of(module: str) -> str:
    dists = installed_modules().get(module)
    assert dists, f"no installed distribution provides the module {module!r}"
    return normalize(dists[0])


def source_imports() -> tuple[dict[str, set[Path]], dict[str, set[Path]]]:
    """distribution -> modules importing it (eagerly / only lazily) over the whole package."""
    eager: dict[str, set[Path]] = {}
    lazy: dict[str, set[Path]] = {}
    for path in sorted(SRC.rglob("*.py")):
        module_eager, module_lazy = imports_of(path)
        for module in third_party(module_eager):
            eager.setdefault(distribution_of(module), set()).add(path.relative_to(SRC))
        for module in third_party(module_lazy):
            lazy.setdefault(distribution_of(module), set()).add(path.relative_to(SRC))
    return eager, lazy


def test_every_eager_import_is_a_base_dependency() -> None:
    base, _ = declared()
    eager, _ = source_imports()
    missing = {dist: sorted(map(str, paths)) for dist, paths in eager.items() if dist not in base}
    assert not missing, f"imported at module level but not in [project].dependencies: {missing}"


def test_every_lazy_import_is_declared_in_base_or_an_extra() -> None:
    base, extras = declared()
    _, lazy = source_imports()
    anywhere = base.union(*extras.values())
    missing = {dist: sorted(map(str, paths)) for dist, paths in lazy.items() if dist not in anywhere}
    assert not missing, f"imported but declared nowhere in pyproject.toml: {missing}"


def test_every_base_dependency_is_imported() -> None:
    base, _ = declared()
    eager, lazy = source_imports()
    unused = sorted(base - set(eager) - set(lazy))
    assert not unused, f"declared in [project].dependencies but imported nowhere under src/: {unused}"


def test_local_extra_is_llama_cpp_and_the_weight_packages() -> None:
    _, extras = declared()
    weights = {normalize(p) for spec in ALIASES.values() for p in spec.packages()}
    _, lazy = source_imports()
    code = {dist for dist in lazy if dist in extras["local"]}
    assert code == {"llama-cpp-python"}
    assert extras["local"] == code | weights, "the local extra holds a package nothing uses"
