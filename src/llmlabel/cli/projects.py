"""`llmlabel projects ...`: manage a team's projects through the service's HTTP API.

Nothing here touches Redis: every command is one or two API calls with the
team's key, so it works from any machine (and from CI: `push` uploads local
files as a new version, and says so when they are already stored). The service
URL and key come from `--api`/`--key` or LLMLABEL_SERVICE_URL/LLMLABEL_SERVICE_KEY
(LLMLABEL_API_KEY is the LLM provider's key, not the service's).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from llmlabel.cli import app

__all__ = ["projects_app"]

projects_app = typer.Typer(help="Manage your team's projects (talks to the service API).",
                           no_args_is_help=True)
app.add_typer(projects_app, name="projects")

_out = Console(soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True)

ApiOpt = Annotated[str, typer.Option("--api", envvar="LLMLABEL_SERVICE_URL",
                                     help="The service's base URL")]
KeyOpt = Annotated[str | None, typer.Option("--key", envvar="LLMLABEL_SERVICE_KEY",
                                            help="Your team's API key (operator to change things)",
                                            show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer")]
FileOpt = Annotated[Path | None, typer.Option(exists=True, dir_okay=False, readable=True)]
DEFAULT_API = "http://127.0.0.1:8000"


class _Client:
    """One API session; a problem+json answer is printed (with file:line when it names one)."""

    def __init__(self, api: str, key: str | None, files: dict[str, Path] | None = None) -> None:
        if not key:
            _err.print("error: no API key: pass --key or set LLMLABEL_SERVICE_KEY")
            raise typer.Exit(2)
        self.base = api.rstrip("/")
        self.headers = {"Authorization": f"Bearer {key}"}
        self.files = files or {}

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             params: dict[str, str] | None = None) -> tuple[int, Any]:
        try:
            response = httpx.request(method, self.base + path, json=body, params=params,
                                     headers=self.headers, timeout=60)
        except httpx.HTTPError as exc:
            _err.print(f"error: the service at {self.base} did not answer: {exc}")
            raise typer.Exit(1) from None
        data = response.json() if response.content else None
        if response.status_code >= 400:
            self._fail(response.status_code, data if isinstance(data, dict) else {})
        return response.status_code, data

    def _fail(self, status: int, problem: dict[str, Any]) -> None:
        _err.print(f"error: HTTP {status}: {problem.get('detail') or problem.get('title')}")
        for entry in problem.get("errors") or []:
            path = self.files.get(entry.get("part", ""))
            where = f"{path}:{entry['line']}" if path and entry.get("line") else str(path or "")
            field = entry.get("field")
            parts = [p for p in (where, field, entry.get("message")) if p]
            _err.print("  " + ": ".join(parts))
        raise typer.Exit(1)


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        _err.print(f"error: {path}: not UTF-8 (byte {exc.start})")
        raise typer.Exit(2) from None


def _print(data: Any, as_json: bool, summary: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        # Plain text: "[default]" would otherwise be read as rich markup and vanish.
        _out.print(summary, markup=False)


def _project_line(p: dict[str, Any]) -> str:
    flags = ", ".join(f for f in ("default" if p["default"] else "",
                                  "" if p["pinned"] else "follows built-ins",
                                  "reviews by value" if p.get("review_order") == "value" else "")
                      if f)
    return (f"{p['name']} ({p['task']}): guideline {p['guideline_version']}, prompt "
            f"{p['prompt_version']}" + (f" [{flags}]" if flags else ""))


@projects_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Project name (unique in your team)")],
    task: Annotated[str, typer.Option(help="Task type: ner, safety, preference, instruction, classification")],
    guideline: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Guideline file")],
    prompt: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Prompt file")],
    model_profile: Annotated[str | None, typer.Option(help="A model profile of the server")] = None,
    description: Annotated[str, typer.Option(help="A line about the project")] = "",
    api: ApiOpt = DEFAULT_API, key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create a project from a guideline and a prompt file (both checked by the service)."""
    client = _Client(api, key, {"guideline": guideline, "prompt": prompt})
    body = {"name": name, "task": task, "guideline": _read(guideline), "prompt": _read(prompt),
            "model_profile": model_profile, "description": description}
    _, data = client.call("POST", "/v1/projects", body)
    _print(data, as_json, "created " + _project_line(data))


@projects_app.command("list")
def list_projects(api: ApiOpt = DEFAULT_API, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Your team's projects with their active versions."""
    _, data = _Client(api, key).call("GET", "/v1/projects")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table("project", "task", "guideline", "prompt", "profile", "versions")
    for p in data["projects"]:
        table.add_row(p["name"], p["task"], p["guideline_version"], p["prompt_version"],
                      p["model_profile"] or "default",
                      f"{len(p['guideline_versions'])} g / {len(p['prompt_versions'])} p")
    _out.print(table if data["projects"] else "no projects yet: llmlabel projects create ...")


@projects_app.command("show")
def show(
    name: str, api: ApiOpt = DEFAULT_API, key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """A project, its versions with content hashes, and its recent history."""
    client = _Client(api, key)
    _, project = client.call("GET", f"/v1/projects/{name}")
    _, versions = client.call("GET", f"/v1/projects/{name}/versions")
    _, history = client.call("GET", f"/v1/projects/{name}/history")
    if as_json:
        typer.echo(json.dumps({"project": project, **versions, **history}, indent=2))
        return
    _out.print(_project_line(project))
    for kind, rows in (("guideline", versions["guidelines"]), ("prompt", versions["prompts"])):
        active = project[f"{kind}_version"]
        for v in rows:
            mark = "*" if v["version"] == active else " "
            _out.print(f" {mark} {kind} {v['version']}  {v['sha256'][:12]}  {v['created_by']}")
    for event in history["history"][:10]:
        _out.print(f"   {event['action']} by {event['actor']}: {json.dumps(event.get('after'))}")


@projects_app.command("push")
def push(
    name: str,
    guideline: FileOpt = None,
    prompt: FileOpt = None,
    activate: Annotated[bool, typer.Option(help="Activate what was pushed")] = False,
    api: ApiOpt = DEFAULT_API, key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Upload local files as a new version (the same content again is no new version)."""
    if guideline is None and prompt is None:
        _err.print("error: pass --guideline FILE and/or --prompt FILE")
        raise typer.Exit(2)
    files = {k: v for k, v in (("guideline", guideline), ("prompt", prompt)) if v is not None}
    client = _Client(api, key, files)
    body = {k: _read(v) for k, v in files.items()}
    status, data = client.call("POST", f"/v1/projects/{name}/versions", body)
    lines = [f"{kind} {data[f'{kind}_version']} "
             + ("created" if data["created"][kind] else "unchanged (already stored)")
             for kind in files]
    if activate:
        pair = {f"{k}_version": data[f"{k}_version"] for k in files}
        _, active = client.call("POST", f"/v1/projects/{name}/activate", pair)
        lines.append("active: " + _project_line(active))
    _print(data, as_json, "\n".join(lines) if status in (200, 201) else str(data))


@projects_app.command("activate")
def activate(
    name: str,
    guideline_version: Annotated[str | None, typer.Option("--guideline-version")] = None,
    prompt_version: Annotated[str | None, typer.Option("--prompt-version")] = None,
    api: ApiOpt = DEFAULT_API, key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Make a version pair active for the project's new batches (a part not named stays)."""
    body = {"guideline_version": guideline_version, "prompt_version": prompt_version}
    _, data = _Client(api, key).call("POST", f"/v1/projects/{name}/activate", body)
    _print(data, as_json, "active: " + _project_line(data))


@projects_app.command("rollback")
def rollback(
    name: str, api: ApiOpt = DEFAULT_API, key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Re-activate the pair that was active before the last activation."""
    _, data = _Client(api, key).call("POST", f"/v1/projects/{name}/rollback")
    _print(data, as_json, "active: " + _project_line(data))


@projects_app.command("review-order")
def review_order(
    name: str,
    order: Annotated[str, typer.Argument(help="age (oldest first) or value (see README)")],
    api: ApiOpt = DEFAULT_API, key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Set how review claims take the project's items (queued from now on)."""
    _, data = _Client(api, key).call("PATCH", f"/v1/projects/{name}", {"review_order": order})
    _print(data, as_json, _project_line(data))


@projects_app.command("diff")
def diff(
    name: str,
    to_version: Annotated[str, typer.Option("--to", help="The version to compare with")],
    from_version: Annotated[str | None, typer.Option("--from", help="Default: the active one")] = None,
    kind: Annotated[str, typer.Option(help="guideline or prompt")] = "guideline",
    api: ApiOpt = DEFAULT_API, key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """A unified diff between two versions of the guideline (or prompt)."""
    params = {"to": to_version, **({"from": from_version} if from_version else {})}
    _, data = _Client(api, key).call("GET", f"/v1/projects/{name}/versions/{kind}/diff",
                                     params=params)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        sys.stdout.write(data["diff"] or f"{kind} {data['from']} and {data['to']} are the same\n")
