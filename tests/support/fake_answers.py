"""Deterministic JSON values that fit a JSON schema, for the scripted fake provider.

Enums and booleans are picked by a hash of the key, arrays are empty unless the
schema asks for items (so an NER answer has no entities, which is always
valid), numbers stay in range and any "confidence" field is 0.9.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

__all__ = ["digest", "generate", "unit"]


def digest(*parts: object) -> int:
    """A deterministic 64-bit number for these parts (stable across processes)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


def unit(*parts: object) -> float:
    """A deterministic number in [0, 1) for these parts."""
    return digest(*parts) / 2**64


def generate(schema: dict[str, Any], key: str, defs: dict[str, Any] | None = None) -> Any:
    """A value fitting `schema`, fixed by `key` (the same key always gives the same value)."""
    defs = defs if defs is not None else schema.get("$defs", schema.get("definitions", {}))
    if "$ref" in schema:
        return generate(defs[schema["$ref"].rsplit("/", 1)[-1]], key, defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][digest(key) % len(schema["enum"])]
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            branches = schema[combinator]
            options = [s for s in branches if s.get("type") != "null"] or branches
            return generate(options[0], key, defs)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _field(name, sub, f"{key}/{name}", defs) for name, sub in props.items()}
    if kind == "array":
        count = int(schema.get("minItems", 0))
        items = schema.get("items", {})
        if count and "enum" in items:
            values = list(items["enum"][:count])
            random.Random(digest(key)).shuffle(values)
            return values
        return [generate(items, f"{key}[{i}]", defs) for i in range(count)]
    if kind == "boolean":
        return digest(key) % 4 == 0
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        high = schema.get("maximum", low + 10)
        value = low + digest(key) % (int(high - low) + 1)
        return int(value) if kind == "integer" else float(value)
    if kind == "string":
        text = f"answer {digest(key) % 1000}".ljust(int(schema.get("minLength", 0)), "x")
        return text[: schema.get("maxLength", len(text))]
    return None


def _field(name: str, schema: dict[str, Any], key: str, defs: dict[str, Any]) -> Any:
    if name == "confidence" and schema.get("type") in ("number", "integer", None):
        return 0.9
    return generate(schema, key, defs)
