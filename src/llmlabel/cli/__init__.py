"""The `llmlabel` command: thin wiring of the core and the service."""

from __future__ import annotations

import sys

import typer

from llmlabel.errors import LlmlabelError

app = typer.Typer(
    name="llmlabel",
    help="Label data with LLMs, measure how sure they are, and queue the rest for review.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Command modules add themselves to `app`; importing here keeps `import llmlabel.cli` cheap.
    from llmlabel.cli import export, keys, labeling, projects, service  # noqa: F401


def main() -> None:
    """Console entry point: run the app and turn llmlabel errors into one clean line.

    Click's standalone mode prints usage errors itself; llmlabel errors propagate
    out of it and are shown here without a traceback.
    """
    _register()
    try:
        app()
    except LlmlabelError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)
