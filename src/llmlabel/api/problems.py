"""RFC 9457 problem+json: the one place where errors become HTTP responses.

Routes never build error responses themselves: they raise an `llmlabel.errors`
error (mapped by `ERROR_MAP`) or a `Problem` for HTTP-only cases (401, 403, 413,
415). Every response carries `type`, `title`, `status`, `detail` and `instance`;
validation problems add an `errors` list naming each field (or line).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmlabel.errors import (
    BackendError,
    BudgetExceededError,
    ConfigError,
    ConflictError,
    DefinitionError,
    GuidelineError,
    InputError,
    InvalidInputError,
    LabelValidationError,
    LeaseError,
    LlmlabelError,
    NotFoundError,
    PayloadTooLargeError,
    StoreError,
    UnknownVersionError,
    VersionConflictError,
)

__all__ = [
    "ERROR_MAP",
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "ProblemKind",
    "install_problem_handlers",
    "kind_for",
    "problem_response",
    "problem_type",
    "validation_entries",
]

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:llmlabel:problem:"


def problem_type(slug: str) -> str:
    """The `type` URI of one kind of problem (a URN: stable, and never a dead link)."""
    return f"{_TYPE_PREFIX}{slug}"


@dataclass(frozen=True, slots=True)
class ProblemKind:
    """How one error class is shown over HTTP."""

    status: int
    slug: str
    title: str


# Most specific first: the first class an error is an instance of wins.
ERROR_MAP: tuple[tuple[type[LlmlabelError], ProblemKind], ...] = (
    (DefinitionError, ProblemKind(422, "invalid-definition", "Invalid guideline or prompt")),
    (VersionConflictError, ProblemKind(409, "version-conflict", "Version content changed")),
    (UnknownVersionError, ProblemKind(422, "unknown-version", "Unknown task or version")),
    (GuidelineError, ProblemKind(500, "guideline-error", "Guideline or prompt cannot be used")),
    (LeaseError, ProblemKind(409, "lease-conflict", "Review lease expired or not yours")),
    (NotFoundError, ProblemKind(404, "not-found", "Not found")),
    (ConflictError, ProblemKind(409, "conflict", "Conflict")),
    (StoreError, ProblemKind(500, "store-error", "Storage error")),
    (PayloadTooLargeError, ProblemKind(413, "too-large", "Request too large")),
    (InvalidInputError, ProblemKind(422, "invalid-input", "Invalid input")),
    (InputError, ProblemKind(422, "invalid-input", "Invalid input")),
    (LabelValidationError, ProblemKind(422, "invalid-label", "Label does not fit the task")),
    (BudgetExceededError, ProblemKind(402, "budget-exceeded", "Budget exceeded")),
    (ConfigError, ProblemKind(500, "config-error", "Server configuration error")),
    (BackendError, ProblemKind(502, "backend-error", "LLM provider error")),
    (LlmlabelError, ProblemKind(500, "error", "Error")),
)


def kind_for(exc: LlmlabelError) -> ProblemKind:
    """The problem kind of an llmlabel error (the base class catches the rest)."""
    for cls, kind in ERROR_MAP:
        if isinstance(exc, cls):
            return kind
    raise AssertionError("LlmlabelError is the last entry of ERROR_MAP")


class Problem(Exception):
    """An HTTP-level problem raised by the API itself (auth, size limits, media type)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        slug: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.slug = slug or HTTPStatus(status).phrase.lower().replace(" ", "-")
        self.errors = errors
        self.headers = headers
        self.extra = extra or {}


def problem_response(
    request: Request,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """One problem+json response; `instance` is the request path."""
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors is not None:
        body["errors"] = errors
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _error_entries(exc: LlmlabelError) -> list[dict[str, Any]] | None:
    if isinstance(exc, DefinitionError):
        # Each names the part (guideline or prompt), the field and the line of the text.
        return [dict(problem) for problem in exc.problems]
    if isinstance(exc, InvalidInputError):
        return list(exc.errors)
    if isinstance(exc, LabelValidationError):
        return list(exc.errors)
    if isinstance(exc, InputError):
        entry: dict[str, Any] = {"message": str(exc)}
        if exc.field is not None:
            entry["field"] = exc.field
        if exc.line is not None:
            entry["line"] = exc.line
        return [entry]
    return None


async def _handle_llmlabel_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LlmlabelError)
    kind = kind_for(exc)
    if kind.status >= 500:
        logger.error(
            "api.error", extra={"path": request.url.path, "error": type(exc).__name__}, exc_info=exc
        )
    extra = None
    if isinstance(exc, PayloadTooLargeError):
        extra = {"limit": exc.limit, "allowed": exc.allowed, "actual": exc.actual}
    return problem_response(
        request,
        status=kind.status,
        slug=kind.slug,
        title=exc.title if isinstance(exc, InvalidInputError) else kind.title,
        detail=str(exc) or kind.title,
        errors=_error_entries(exc),
        extra=extra,
    )


async def _handle_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        request,
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


def validation_entries(errors: Any) -> list[dict[str, Any]]:
    """FastAPI/pydantic errors as `{"in", "field", "message"}` entries naming each field."""
    entries: list[dict[str, Any]] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        where = loc[0] if loc and loc[0] in {"body", "query", "path", "header", "cookie"} else None
        field = ".".join(loc[1:] if where else loc)
        entries.append({"in": where, "field": field or where, "message": error.get("msg", "")})
    return entries


async def _handle_request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    entries = validation_entries(exc.errors())
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in entries) or "invalid request"
    return problem_response(
        request,
        status=422,
        slug="invalid-request",
        title="Invalid request",
        detail=detail,
        errors=entries,
    )


async def _handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    phrase = HTTPStatus(status).phrase
    detail = str(exc.detail) if exc.detail and exc.detail != phrase else phrase
    if status == 404:
        detail = f"no route {request.method} {request.url.path}"
    elif status == 405:
        allowed = (exc.headers or {}).get("allow", (exc.headers or {}).get("Allow", ""))
        detail = f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})"
    return problem_response(
        request,
        status=status,
        slug=phrase.lower().replace(" ", "-"),
        title=phrase,
        detail=detail,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The edge of the service: log everything, show the client nothing internal.
    logger.error(
        "api.unhandled_error",
        extra={"path": request.url.path, "method": request.method, "error": type(exc).__name__},
        exc_info=exc,
    )
    return problem_response(
        request,
        status=500,
        slug="internal-error",
        title="Internal server error",
        detail="the server failed to handle this request; the error was logged",
    )


async def _handle_store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Redis down or restarting: nothing was written, and the client should simply retry.
    logger.warning("api.store_unavailable", extra={"path": request.url.path, "error": str(exc)})
    return problem_response(
        request,
        status=503,
        slug="store-unavailable",
        title="Storage unavailable",
        detail="the store (Redis) is not reachable right now; retry shortly",
        headers={"Retry-After": "5"},
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Register the problem+json handlers for every error an app can raise."""
    app.add_exception_handler(LlmlabelError, _handle_llmlabel_error)
    app.add_exception_handler(Problem, _handle_problem)
    app.add_exception_handler(RequestValidationError, _handle_request_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    # Only the exception classes of the Redis client are named here; no Redis calls.
    app.add_exception_handler(redis.exceptions.ConnectionError, _handle_store_unavailable)
    app.add_exception_handler(redis.exceptions.TimeoutError, _handle_store_unavailable)
    app.add_exception_handler(Exception, _handle_unexpected)
