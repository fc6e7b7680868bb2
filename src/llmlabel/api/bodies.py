"""Request bodies: size limits, and strict JSON parsing for every route that takes a JSON body.

Every router is an `api_router(...)`: its routes are `JsonRoute`s, which parse
a JSON body with `llmlabel.validation.loads` (no NaN or Infinity, UTF-8, no
lone surrogates in values or keys, bounded nesting and size) before FastAPI
validates it against the route's model. So every body that enters the service
is refused for the same reasons with the same problem+json, whatever route it
was sent to; a route's own checks (a task's label rules) come after.
Routes that read their body raw (batch submit) use `RawBody`, and check the
values themselves with the same module.
"""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute

from llmlabel.api.problems import Problem
from llmlabel.errors import PayloadTooLargeError
from llmlabel.settings import Settings
from llmlabel.validation import loads

__all__ = ["JsonRoute", "RawBody", "api_router", "check_content_length", "read_limited_body"]


def _too_large(allowed: int, actual: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"request body (bytes) is {actual:,}, over the limit max_body_bytes={allowed:,}",
        limit="max_body_bytes", allowed=allowed, actual=actual,
    )


def check_content_length(header: str | None, max_body_bytes: int) -> None:
    """Refuse a declared body size over the limit before reading any of it."""
    if header is None:
        return
    try:
        declared = int(header)
    except ValueError:
        raise Problem(
            400, f"Content-Length {header[:40]!r} is not a number",
            errors=[{"in": "header", "field": "Content-Length", "message": "not a number"}],
        ) from None
    if declared > max_body_bytes:
        raise _too_large(max_body_bytes, declared)


async def read_body(request: Request, max_body_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `max_body_bytes`.

    The declared Content-Length is checked before reading; the byte count is
    checked again while streaming, since chunked uploads declare nothing.
    """
    check_content_length(request.headers.get("content-length"), max_body_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            raise _too_large(max_body_bytes, size)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_limited_body(request: Request) -> bytes:
    """Dependency: the raw body within the app's `max_body_bytes`."""
    settings: Settings = request.app.state.settings
    return await read_body(request, settings.max_body_bytes)


RawBody = Annotated[bytes, Depends(read_limited_body)]


def _is_json(content_type: str | None) -> bool:
    # The same test FastAPI applies before it parses a body as JSON.
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class JsonRoute(APIRoute):
    """A route whose JSON body is read within the size limit and parsed strictly first."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def strict(request: Request) -> Response:
            if _is_json(request.headers.get("content-type")):
                body = await read_limited_body(request)
                # Starlette caches the body and its parsed JSON on the request; FastAPI
                # then validates this value instead of parsing the bytes again leniently.
                request._body = body
                if body:
                    request._json = loads(body)
            return await handler(request)

        return strict


def api_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes parse JSON bodies strictly (see the module docstring)."""
    return APIRouter(route_class=JsonRoute, **kwargs)
