"""Cursor pagination over sorted sets: stable pages while new members arrive.

A cursor is opaque to clients (URL-safe base64 of a small JSON object) and
names the last member a page returned, with its score; the next page starts
strictly after it, in score order and, between equal scores, in member order
(the order Redis keeps them in). Members added or removed meanwhile neither
shift a page nor repeat one, unlike offsets.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, cast

import redis

from llmlabel.errors import InputError

__all__ = ["decode_cursor", "encode_cursor", "zset_page"]

# How many extra members a round trip asks for, to step over ties with the cursor's score.
_SLACK = 16


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque cursor for `position` (JSON-serialisable)."""
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_NOT_OURS = "cursor: not a cursor this listing returned (use next_cursor as is)"


def decode_cursor(
    cursor: str | None,
    *,
    keys: tuple[str, ...],
    types: dict[str, type | tuple[type, ...]] | None = None,
) -> dict[str, Any] | None:
    """The position in a cursor; InputError naming `cursor` if it is not one of ours.

    `types` checks the values (a client can craft any JSON): e.g. {"i": int}.
    """
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        position = None
    if not isinstance(position, dict) or set(position) != set(keys) or any(
        not isinstance(position[name], kind) or isinstance(position[name], bool)
        for name, kind in (types or {}).items()
    ):
        raise InputError(_NOT_OURS, field="cursor")
    return position


def zset_page(
    client: redis.Redis,
    key: str,
    *,
    cursor: str | None,
    limit: int,
    newest_first: bool = True,
) -> tuple[list[tuple[str, float]], str | None]:
    """One page of (member, score) of a sorted set and the cursor of the next (None: last page)."""
    position = decode_cursor(cursor, keys=("s", "m"), types={"s": (int, float), "m": str})
    after: tuple[float, str] | None = None
    if position is not None:
        after = (float(position["s"]), position["m"])
        if not math.isfinite(after[0]):
            raise InputError(_NOT_OURS, field="cursor")
    bound = repr(after[0]) if after else ("+inf" if newest_first else "-inf")
    rows: list[tuple[str, float]] = []
    offset = 0
    while len(rows) <= limit:
        want = limit + 1 - len(rows) + _SLACK
        if newest_first:
            batch = client.zrevrangebyscore(key, bound, "-inf", start=offset, num=want,
                                            withscores=True)
        else:
            batch = client.zrangebyscore(key, bound, "+inf", start=offset, num=want,
                                         withscores=True)
        found = cast("list[tuple[str, float]]", batch)
        if not found:
            break
        offset += len(found)
        for member, score in found:
            if after is not None and score == after[0] and (
                member >= after[1] if newest_first else member <= after[1]
            ):
                continue  # at or before the cursor, among members with its score
            rows.append((str(member), float(score)))
    page = rows[:limit]
    more = len(rows) > limit and bool(page)
    next_cursor = encode_cursor({"s": page[-1][1], "m": page[-1][0]}) if more else None
    return page, next_cursor
