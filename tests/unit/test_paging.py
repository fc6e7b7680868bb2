"""Cursors are opaque, round-trip, and anything else a client sends is a 422 naming `cursor`."""

from __future__ import annotations

import base64

import pytest

from llmlabel.errors import InputError
from llmlabel.store.paging import decode_cursor, encode_cursor


def test_cursors_round_trip() -> None:
    cursor = encode_cursor({"s": 1.5, "m": "b_1"})
    assert "=" not in cursor and "{" not in cursor
    assert decode_cursor(cursor, keys=("s", "m"), types={"s": float, "m": str}) == {
        "s": 1.5, "m": "b_1"}
    assert decode_cursor(None, keys=("i",)) is None and decode_cursor("", keys=("i",)) is None


@pytest.mark.parametrize("cursor", [
    "not-base64!", base64.urlsafe_b64encode(b"[1, 2]").decode(), encode_cursor({"i": "3"}),
    encode_cursor({"i": True}), encode_cursor({"i": 1, "extra": 2}), encode_cursor({"j": 1}),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
])
def test_foreign_cursors_are_input_errors(cursor: str) -> None:
    with pytest.raises(InputError) as info:
        decode_cursor(cursor, keys=("i",), types={"i": int})
    assert info.value.field == "cursor"
