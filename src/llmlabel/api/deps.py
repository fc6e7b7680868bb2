"""Dependencies routes declare with `Annotated` aliases: settings, store, caller, role checks.

Routes never check keys or roles inline: they take `CurrentPrincipal` (any valid
key of the team) or one of the role aliases (`Submitter`, `Reviewer`,
`Operator`, `Admin`), built by `require_role`. Admin keys pass every role check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from llmlabel.api.problems import Problem
from llmlabel.projects import Projects
from llmlabel.settings import Settings
from llmlabel.store import Store
from llmlabel.store.models import Principal, Role

__all__ = [
    "BATCH_READERS",
    "Admin",
    "BatchReader",
    "CurrentPrincipal",
    "CursorQuery",
    "Exporter",
    "Operator",
    "ProjectsDep",
    "Reviewer",
    "SettingsDep",
    "StoreDep",
    "Submitter",
    "actor_of",
    "require_any_role",
    "require_role",
]


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> Store:
    """The app's store (one Redis connection pool per process)."""
    store: Store = request.app.state.store
    return store


def get_projects(request: Request) -> Projects:
    """Projects and their versions (the use cases; one version cache per process)."""
    projects: Projects = request.app.state.projects
    return projects


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
ProjectsDep = Annotated[Projects, Depends(get_projects)]

# auto_error=False: a missing header must become our 401 problem, not FastAPI's 403.
_bearer = HTTPBearer(
    auto_error=False, description="An llmlabel API key: `Authorization: Bearer <key>`"
)

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="llmlabel"'}


def get_principal(
    store: StoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the bearer key; 401 when the key is missing or unknown."""
    if credentials is None or not credentials.credentials:
        raise Problem(
            401,
            "missing API key: send the header 'Authorization: Bearer <key>' "
            "(create a key with 'llmlabel keys create')",
            slug="unauthorized",
            headers=_CHALLENGE,
        )
    principal = store.authenticate(credentials.credentials)
    if principal is None:
        raise Problem(
            401,
            "unknown, revoked or expired API key",
            slug="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="llmlabel", error="invalid_token"'},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_role(role: Role) -> Callable[[Principal], Principal]:
    """A dependency passing callers whose key has `role` (or admin); 403 otherwise."""

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in (role, Role.ADMIN):
            needed = "admin" if role is Role.ADMIN else f"{role.value} (or admin)"
            raise Problem(
                403,
                f"this action needs a key with role {needed}; this key has role "
                f"{principal.role.value}",
                slug="forbidden",
                extra={"required_role": role.value, "role": principal.role.value},
            )
        return principal

    check.__name__ = f"require_{role.value}"
    return check


def require_any_role(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency passing callers whose key has one of `roles` (or admin); 403 otherwise."""
    allowed = (*roles, Role.ADMIN)

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            names = " or ".join(r.value for r in allowed)
            raise Problem(
                403,
                f"this action needs a key with role {names}; this key has role "
                f"{principal.role.value}",
                slug="forbidden",
                extra={"required_role": [r.value for r in allowed], "role": principal.role.value},
            )
        return principal

    check.__name__ = "require_" + "_or_".join(r.value for r in roles)
    return check


Submitter = Annotated[Principal, Depends(require_role(Role.SUBMITTER))]
Reviewer = Annotated[Principal, Depends(require_role(Role.REVIEWER))]
Operator = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]
# One data rule for every route that reads a batch (record, items, results, exports,
# charts): its submitters and the team's operators. Reviewers see items only through
# their claims, so nothing they can read tells a gold item's claim from a real one.
BATCH_READERS = frozenset({Role.SUBMITTER, Role.OPERATOR, Role.ADMIN})
BatchReader = Annotated[Principal, Depends(require_any_role(Role.SUBMITTER, Role.OPERATOR))]
Exporter = BatchReader

CursorQuery = Annotated[
    str | None,
    Query(max_length=1000, description="The `next_cursor` of the previous page (none: the first)"),
]


def actor_of(principal: Principal) -> str:
    """How audit events name a caller: the key's name if it has one, else its id."""
    return f"{principal.team}/{principal.name or principal.key_id}"
