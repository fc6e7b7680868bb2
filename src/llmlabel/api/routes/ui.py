"""The reviewer and operator web pages, their static assets, and the small JSON routes they need.

The pages are plain HTML files with vanilla JavaScript modules, shipped inside
the package (`llmlabel/web/`): no build step, no CDN, no second server. They
call the same JSON API as every other client, with the API key the user signs
in with (kept in the tab's sessionStorage). Two read-only routes exist for them:
`GET /v1/whoami` (the key's team and role) and
`GET /v1/tasks/{task}/guidelines/{version}` (a guideline's text and ontology, from the
team's default project of the task, or `?project=`) and `GET /v1/exports/formats`
(what the operator page's download offers per task).
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import BATCH_READERS, CurrentPrincipal, ProjectsDep
from llmlabel.api.routes import agreement
from llmlabel.errors import NotFoundError
from llmlabel.exports import EXPORT_FORMATS
from llmlabel.store.models import Role

__all__ = ["router"]

router = api_router(tags=["ui"])
router.include_router(agreement.router)

_CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

# The pages run only our own scripts and styles: an injected <script> could read
# the API key from sessionStorage, so inline code and other origins are refused.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

_SAFE_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _web() -> Traversable:
    return resources.files("llmlabel").joinpath("web")


def _asset(*parts: str) -> bytes:
    """A file under llmlabel/web; NotFoundError for anything else (no '..', no dot files)."""
    node = _web()
    for part in parts:
        if not _SAFE_PART.match(part):
            raise NotFoundError(f"no such asset: {'/'.join(parts)}")
        node = node.joinpath(part)
    if not node.is_file():
        raise NotFoundError(f"no such asset: {'/'.join(parts)}")
    return node.read_bytes()


def _cached(request: Request, body: bytes, media_type: str, headers: dict[str, str]) -> Response:
    """The body with an ETag, or 304 when the browser already has this version."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    headers = {**headers, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    """The review page is the landing page."""
    return RedirectResponse("/ui/review", status_code=307)


@router.get("/ui", include_in_schema=False)
def ui_root() -> RedirectResponse:
    """`/ui` alone also lands on the review page."""
    return RedirectResponse("/ui/review", status_code=307)


def _page(request: Request, name: str) -> Response:
    return _cached(request, _asset("templates", f"{name}.html"), "text/html; charset=utf-8",
                   _PAGE_HEADERS)


@router.get("/ui/review", include_in_schema=False)
def review_page(request: Request) -> Response:
    """The reviewer's page: claim, inspect the samples, approve or fix, with keyboard shortcuts."""
    return _page(request, "review")


@router.get("/ui/queue", include_in_schema=False)
def queue_page(request: Request) -> Response:
    """The review queue as a table: filter, sort, open a row, bulk approve; your history."""
    return _page(request, "queue")


@router.get("/ui/operator", include_in_schema=False)
def operator_page(request: Request) -> Response:
    """The operator's page: batches, cost and review rate, versions, agreement."""
    return _page(request, "operator")


@router.get("/ui/static/{path:path}", include_in_schema=False)
def static_asset(request: Request, path: str) -> Response:
    """CSS, JavaScript modules and icons of the pages, from the installed package."""
    parts = path.split("/")
    suffix = "." + parts[-1].rsplit(".", 1)[-1] if "." in parts[-1] else ""
    media_type = _CONTENT_TYPES.get(suffix)
    if media_type is None:
        raise NotFoundError(f"no such asset: {path}")
    return _cached(request, _asset("static", *parts), media_type,
                   {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


class WhoAmI(BaseModel):
    """What the pages show about the signed-in key."""

    key_id: str
    team: str
    role: Role
    name: str | None
    can_review: bool
    can_operate: bool
    can_read_batches: bool = Field(description="Batch records, items, results and exports")


@router.get("/v1/whoami", response_model=WhoAmI, summary="The caller's team and role")
def whoami(principal: CurrentPrincipal) -> WhoAmI:
    """The key's id, team and role, and what the pages may offer it."""
    admin = principal.role is Role.ADMIN
    return WhoAmI(
        key_id=principal.key_id,
        team=principal.team,
        role=principal.role,
        name=principal.name,
        can_review=admin or principal.role is Role.REVIEWER,
        can_operate=admin or principal.role is Role.OPERATOR,
        can_read_batches=principal.role in BATCH_READERS,
    )


class GuidelineText(BaseModel):
    """A guideline version as reviewers read it: ontology, descriptions and instructions."""

    task: str
    version: str
    description: str
    labels: list[str]
    label_descriptions: dict[str, str]
    threshold: float
    options: dict[str, Any]
    text: str
    content_hash: str


@router.get(
    "/v1/tasks/{task}/guidelines/{version}",
    response_model=GuidelineText,
    summary="A guideline version's text and labels",
    tags=["versions"],
)
def guideline_text(
    principal: CurrentPrincipal,
    projects: ProjectsDep,
    task: str,
    version: str,
    project: Annotated[str | None, Query(description="Default: the task's default project")] = None,
) -> GuidelineText:
    """The guideline a label was made under, for the reviewer's side panel."""
    name = project or task
    if project is None and task not in projects.defaults.tasks():
        known = ", ".join(projects.defaults.tasks())
        raise NotFoundError(f"unknown task {task!r} (known tasks: {known})")
    info = projects.get(principal.team, name)
    if info.task != task:
        raise NotFoundError(f"project {name!r} labels task {info.task!r}, not {task!r}")
    stored = projects.store.version_info(principal.team, name, "guideline", version)
    guideline, _ = projects.cache.guideline(
        principal.team, stored.sha256, task=task, version=version
    )
    return GuidelineText(
        task=task,
        version=guideline.version,
        description=guideline.description,
        labels=guideline.labels,
        label_descriptions=guideline.label_descriptions,
        threshold=guideline.routing.threshold,
        options=guideline.options,
        text=guideline.text,
        content_hash=guideline.content_hash,
    )


class ExportFormatPublic(BaseModel):
    """One export format and the tasks it serves."""

    name: str
    tasks: list[str]
    extension: str
    description: str


class ExportFormatList(BaseModel):
    """Every export format of `GET /v1/batches/{batch_id}/export`."""

    formats: list[ExportFormatPublic]


@router.get(
    "/v1/exports/formats",
    response_model=ExportFormatList,
    summary="Export formats and their tasks",
    tags=["exports"],
)
def export_formats(_: CurrentPrincipal) -> ExportFormatList:
    """The formats a batch can be exported in, for the operator page's download menu."""
    return ExportFormatList(
        formats=[
            ExportFormatPublic(
                name=f.name, tasks=sorted(f.tasks), extension=f.extension,
                description=f.description,
            )
            for f in EXPORT_FORMATS.values()
        ]
    )
