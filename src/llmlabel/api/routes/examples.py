"""A project's example pool: list, pin, exclude and edit examples; import the project's gold.

Operator routes, scoped to the caller's team (another team's project is a 404).
Reviewed items enter the pool by themselves; the use cases are in
`llmlabel.projects.examples`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import CursorQuery, Operator, ProjectsDep, StoreDep, actor_of
from llmlabel.errors import InputError
from llmlabel.fewshot import PoolExample
from llmlabel.projects.examples import ExamplePool
from llmlabel.store.pool import PoolFlag

__all__ = ["router"]

router = api_router(prefix="/v1/projects", tags=["examples"])

Responses = dict[int | str, dict[str, Any]]
_NOT_FOUND: Responses = {404: {"description": "No such project (or example) in your team"}}


def get_pool(store: StoreDep, projects: ProjectsDep) -> ExamplePool:
    return ExamplePool(store, projects)


PoolDep = Annotated[ExamplePool, Depends(get_pool)]


class ExamplesPage(BaseModel):
    """One page of a project's example pool, newest first."""

    project: str
    examples: list[PoolExample]
    count: int
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


class ExampleUpdate(BaseModel):
    """What to change on one example; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid", strict=True)

    pinned: bool | None = Field(None, description="Pinned examples are always considered first")
    excluded: bool | None = Field(None, description="Excluded examples are never used")
    input: dict[str, Any] | None = Field(None, description="A corrected input (checked by the task)")
    label: dict[str, Any] | None = Field(None, description="A corrected label (checked by the task)")


class GoldImported(BaseModel):
    project: str
    imported: int


def _flag(body: ExampleUpdate, current: PoolExample) -> tuple[bool, PoolFlag | None]:
    """(whether the flags change, the new flag) from an update; both set is an input error."""
    if body.pinned and body.excluded:
        raise InputError("an example cannot be pinned and excluded at once", field="excluded")
    if body.pinned:
        return True, "pinned"
    if body.excluded:
        return True, "excluded"
    if (body.pinned is False and current.pinned) or (body.excluded is False and current.excluded):
        return True, None
    return False, None


@router.get(
    "/{name}/examples", response_model=ExamplesPage, summary="The project's example pool",
    responses=_NOT_FOUND,
)
def list_examples(
    principal: Operator,
    pool: PoolDep,
    name: str,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: CursorQuery = None,
) -> ExamplesPage:
    """Reviewed (approved, fixed) items and imported gold with their labels and flags."""
    examples, next_cursor = pool.page(principal.team, name, cursor=cursor, limit=limit)
    return ExamplesPage(project=name, examples=examples, count=len(examples),
                        next_cursor=next_cursor)


@router.get(
    "/{name}/examples/{example_id}", response_model=PoolExample, summary="One example",
    responses=_NOT_FOUND,
)
def get_example(principal: Operator, pool: PoolDep, name: str, example_id: str) -> PoolExample:
    return pool.get(principal.team, name, example_id)


@router.patch(
    "/{name}/examples/{example_id}", response_model=PoolExample,
    summary="Pin, exclude or edit an example",
    responses={**_NOT_FOUND, 422: {"description": "Invalid update, input or label: names the field"}},
)
def update_example(
    principal: Operator, pool: PoolDep, name: str, example_id: str, body: ExampleUpdate
) -> PoolExample:
    """Flags first checked, then the edit (validated like a reviewer's fix), then the flags."""
    team, actor = principal.team, actor_of(principal)
    current = pool.get(team, name, example_id)
    changes, flag = _flag(body, current)
    if body.input is not None or body.label is not None:
        current = pool.edit(team, actor, name, example_id, input=body.input, label=body.label)
    if changes:
        current = pool.flag(team, actor, name, example_id, flag)
    return current


@router.post(
    "/{name}/examples/import-gold", response_model=GoldImported,
    summary="Copy the project's gold items into its pool", responses=_NOT_FOUND,
)
def import_gold(principal: Operator, pool: PoolDep, name: str) -> GoldImported:
    """Gold items uploaded for the project become examples (ids are the gold ids)."""
    count = pool.import_gold(principal.team, actor_of(principal), name)
    return GoldImported(project=name, imported=count)
