"""Projects and their versions: create, configure, push, read, diff, activate, roll back, evaluate.

Every route is scoped to the caller's team: another team's project name is
simply not found (404). Reading needs any key of the team; changing anything
needs an operator (or admin) key. The use cases live in `llmlabel.projects`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Query, Response
from pydantic import BaseModel

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import CurrentPrincipal, Operator, ProjectsDep, SettingsDep, actor_of
from llmlabel.api.project_schemas import (
    ActivatePair,
    DiffPublic,
    HistoryPublic,
    ModelProfilePublic,
    ModelProfiles,
    ProjectCreate,
    ProjectList,
    ProjectPublic,
    ProjectUpdate,
    VersionList,
    VersionPublic,
    VersionsPush,
    VersionsPushed,
)
from llmlabel.api.schemas import BatchPublic
from llmlabel.projects import Diff
from llmlabel.projects.relabel import Comparison, RelabelLink, compare, relabel
from llmlabel.settings import DEFAULT_PROFILE
from llmlabel.store.gold_models import GoldEvaluation
from llmlabel.store.project_models import Kind

__all__ = ["profiles_router", "relabel_router", "router"]

# Strict JSON bodies (llmlabel.validation), like every router of the API.
router = api_router(prefix="/v1/projects", tags=["projects"])
profiles_router = api_router(tags=["projects"])
relabel_router = api_router(prefix="/v1/batches", tags=["batches"])

Responses = dict[int | str, dict[str, Any]]
_NOT_FOUND: Responses = {404: {"description": "No such project (or version) in your team"}}
_INVALID: Responses = {422: {"description": "Invalid guideline or prompt: names part, field and line"}}


class EvaluationList(BaseModel):
    """A project's evaluations on gold, newest first."""

    project: str
    evaluations: list[GoldEvaluation]


@router.post(
    "", status_code=201, response_model=ProjectPublic, summary="Create a project",
    responses={409: {"description": "Your team already has a project of that name"}, **_INVALID},
)
def create_project(principal: Operator, projects: ProjectsDep, body: ProjectCreate) -> ProjectPublic:
    """A project with its first guideline and prompt, checked before anything is stored."""
    info = projects.create(
        principal.team, actor_of(principal), name=body.name, task=body.task,
        guideline=body.guideline, prompt=body.prompt, guideline_version=body.guideline_version,
        prompt_version=body.prompt_version, model_profile=body.model_profile,
        description=body.description,
    )
    return ProjectPublic.of(info)


@router.get("", response_model=ProjectList, summary="Your team's projects")
def list_projects(principal: CurrentPrincipal, projects: ProjectsDep) -> ProjectList:
    """Every project of the caller's team, in creation order."""
    return ProjectList(projects=[ProjectPublic.of(p) for p in projects.of_team(principal.team)])


@router.get("/{name}", response_model=ProjectPublic, summary="One project", responses=_NOT_FOUND)
def get_project(principal: CurrentPrincipal, projects: ProjectsDep, name: str) -> ProjectPublic:
    """A project with its active pair and version names."""
    return ProjectPublic.of(projects.get(principal.team, name))


@router.patch("/{name}", response_model=ProjectPublic, summary="Change a project's settings",
              responses=_NOT_FOUND)
def update_project(
    principal: Operator, projects: ProjectsDep, name: str, body: ProjectUpdate
) -> ProjectPublic:
    """Set the review order (`age` or `value`; audited in the project's history)."""
    info = projects.set_review_order(principal.team, actor_of(principal), name, body.review_order)
    return ProjectPublic.of(info)


@router.post(
    "/{name}/versions", status_code=201, response_model=VersionsPushed,
    summary="Add a guideline and/or prompt version",
    responses={200: {"description": "Same content as an existing version: that version"},
               409: {"description": "The version name already holds other content"},
               **_NOT_FOUND, **_INVALID},
)
def push_versions(
    principal: Operator, projects: ProjectsDep, name: str, body: VersionsPush, response: Response
) -> VersionsPushed:
    """Store new versions (checked with the other part active); never a duplicate of one."""
    added = projects.push(
        principal.team, actor_of(principal), name, guideline=body.guideline, prompt=body.prompt,
        guideline_version=body.guideline_version, prompt_version=body.prompt_version,
    )
    response.status_code = 201 if added.created else 200
    g, p = added.versions.get("guideline"), added.versions.get("prompt")
    return VersionsPushed(
        project=name,
        guideline_version=g[0].version if g else None,
        prompt_version=p[0].version if p else None,
        guideline_hash=g[0].sha256 if g else None,
        prompt_hash=p[0].sha256 if p else None,
        created={kind: new for kind, (_, new) in added.versions.items()},
    )


@router.get("/{name}/versions", response_model=VersionList, summary="Versions with hashes",
            responses=_NOT_FOUND)
def list_versions(principal: CurrentPrincipal, projects: ProjectsDep, name: str) -> VersionList:
    """Every guideline and prompt version, oldest first."""
    return VersionList(
        project=name,
        guidelines=projects.versions(principal.team, name, "guideline"),
        prompts=projects.versions(principal.team, name, "prompt"),
    )


def _diff(result: Diff) -> DiffPublic:
    return DiffPublic(
        project=result.project, kind=result.kind, from_version=result.from_version.version,
        to_version=result.to_version.version, from_hash=result.from_version.sha256,
        to_hash=result.to_version.sha256, diff=result.diff,
    )


FromQuery = Annotated[str | None, Query(alias="from", description="Default: the active version")]
ToQuery = Annotated[str, Query(alias="to", description="The version to compare with")]


@router.get("/{name}/versions/{kind}/diff", response_model=DiffPublic,
            summary="Unified diff between two versions", responses=_NOT_FOUND)
def diff_versions(
    principal: CurrentPrincipal, projects: ProjectsDep, name: str, kind: Kind,
    to_version: ToQuery, from_version: FromQuery = None,
) -> DiffPublic:
    """What changes from one version of a kind to another."""
    return _diff(projects.diff(principal.team, name, kind, from_version, to_version))


@router.get("/{name}/diff", response_model=DiffPublic, summary="Unified diff (kind as a query)",
            responses=_NOT_FOUND)
def diff_project(
    principal: CurrentPrincipal, projects: ProjectsDep, name: str, to_version: ToQuery,
    from_version: FromQuery = None, kind: Kind = "guideline",
) -> DiffPublic:
    """Same as `/versions/{kind}/diff`, with `kind` (default guideline) in the query."""
    return _diff(projects.diff(principal.team, name, kind, from_version, to_version))


@router.get("/{name}/versions/{kind}/{version}", response_model=VersionPublic,
            summary="One version's text and hash", responses=_NOT_FOUND)
def get_version(
    principal: CurrentPrincipal, projects: ProjectsDep, name: str, kind: Kind, version: str
) -> VersionPublic:
    """The text exactly as stored, its sha256 and who created it when."""
    info, text = projects.version(principal.team, name, kind, version)
    active = projects.get(principal.team, name).active
    current = active.guideline_version if kind == "guideline" else active.prompt_version
    return VersionPublic(**info.model_dump(), project=name, text=text, active=current == version)


@router.post("/{name}/activate", response_model=ProjectPublic, summary="Activate a version pair",
             responses={**_NOT_FOUND, **_INVALID})
def activate(
    principal: Operator, projects: ProjectsDep, name: str,
    body: Annotated[ActivatePair | None, Body()] = None,
) -> ProjectPublic:
    """Point new batches of the project at a pair (checked to work together; audited)."""
    pair = body or ActivatePair()
    info = projects.activate(
        principal.team, actor_of(principal), name, guideline_version=pair.guideline_version,
        prompt_version=pair.prompt_version,
    )
    return ProjectPublic.of(info)


@router.post("/{name}/rollback", response_model=ProjectPublic,
             summary="Re-activate the previous pair",
             responses={409: {"description": "Nothing earlier to roll back to"}, **_NOT_FOUND})
def rollback(principal: Operator, projects: ProjectsDep, name: str) -> ProjectPublic:
    """Go back to the pair active before the last activation (audited)."""
    return ProjectPublic.of(projects.rollback(principal.team, actor_of(principal), name))


@router.get("/{name}/history", response_model=HistoryPublic, summary="Audited history",
            responses=_NOT_FOUND)
def history(principal: CurrentPrincipal, projects: ProjectsDep, name: str) -> HistoryPublic:
    """Creation, versions, activations and rollbacks, newest first, with who did them."""
    return HistoryPublic(project=name, history=projects.history(principal.team, name))


@router.post("/{name}/evaluate", status_code=202, response_model=GoldEvaluation,
             summary="Evaluate a version pair on the project's gold items",
             responses={409: {"description": "The project has no gold items"}, **_NOT_FOUND})
def evaluate(
    principal: Operator, projects: ProjectsDep, name: str,
    body: Annotated[ActivatePair | None, Body()] = None,
) -> GoldEvaluation:
    """Queue a job labeling the project's gold items with a pair (default: the active one)."""
    pair = body or ActivatePair()
    return projects.evaluate(
        principal.team, actor_of(principal), name, guideline_version=pair.guideline_version,
        prompt_version=pair.prompt_version,
    )


@router.get("/{name}/evaluations", response_model=EvaluationList,
            summary="Evaluations on gold, newest first", responses=_NOT_FOUND)
def evaluations(
    principal: CurrentPrincipal, projects: ProjectsDep, name: str,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> EvaluationList:
    """The project's evaluations with their reports."""
    return EvaluationList(
        project=name, evaluations=projects.evaluations(principal.team, name, limit=limit)
    )


@profiles_router.get("/v1/model-profiles", response_model=ModelProfiles,
                     summary="Model profiles a project may choose")
def model_profiles(_: CurrentPrincipal, settings: SettingsDep) -> ModelProfiles:
    """Names, backends, models and prices the operator configured (no URLs, no keys)."""
    default = settings.profile()
    rows = [ModelProfilePublic(
        name=DEFAULT_PROFILE, backend=default.backend, model=default.model,
        price_input_per_mtok=default.pricing.input_per_mtok,
        price_output_per_mtok=default.pricing.output_per_mtok,
    )] if DEFAULT_PROFILE not in settings.profiles else []
    for name, profile in sorted(settings.profiles.items()):
        rows.append(ModelProfilePublic(
            name=name, backend=profile.backend, model=profile.model or "",
            price_input_per_mtok=profile.price_input_per_mtok,
            price_output_per_mtok=profile.price_output_per_mtok,
        ))
    return ModelProfiles(profiles=rows)


class RelabelPublic(BaseModel):
    """The new batch, what it relabels, and where its comparison report is."""

    batch: BatchPublic
    relabel: RelabelLink
    comparison: str


@relabel_router.post(
    "/{batch_id}/relabel", status_code=201, response_model=RelabelPublic,
    summary="Relabel a batch's items under another version pair",
    responses={200: {"description": "The same relabel was asked before: that batch"},
               404: {"description": "No such batch in your team"},
               422: {"description": "Unknown version, or a pair that does not work together"}},
)
def relabel_batch(
    principal: Operator, projects: ProjectsDep, batch_id: str, response: Response,
    body: Annotated[ActivatePair | None, Body()] = None,
) -> RelabelPublic:
    """A new batch over the same items in the same project (default: its active pair).

    With gold items in the project, each pair is also evaluated on gold. The
    comparison (labels changed, agreement, gold accuracy of each) is at `comparison`.
    """
    pair = body or ActivatePair()
    info, link, created = relabel(
        projects, principal, actor_of(principal), batch_id,
        guideline_version=pair.guideline_version, prompt_version=pair.prompt_version,
    )
    response.status_code = 201 if created else 200
    return RelabelPublic(batch=BatchPublic.of(info), relabel=link,
                         comparison=f"/v1/batches/{info.id}/comparison")


@relabel_router.get(
    "/{batch_id}/comparison", response_model=Comparison,
    summary="How a relabel batch's labels differ from the batch it relabeled",
    responses={404: {"description": "No such relabel batch in your team"}},
)
def comparison(principal: CurrentPrincipal, projects: ProjectsDep, batch_id: str) -> Comparison:
    """Labels changed, agreement between the two pairs, and each pair's accuracy on gold."""
    return compare(projects, principal.team, batch_id)
