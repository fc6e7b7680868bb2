"""The classes a label names, whatever its task: what the review list filters on (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["label_values"]


def label_values(label: Mapping[str, Any] | None) -> list[str]:
    """Classes, raised safety flags ('safe' when none), entity labels or category of a label.

    Shapes follow the task label models: classification `label`/`labels`, safety
    `flags`, ner `entities[].label`, instruction `category` or `quality`.
    Preference rankings name no class and give [].
    """
    if not label:
        return []
    values: list[str] = []
    if isinstance(label.get("label"), str):
        values.append(label["label"])
    if isinstance(label.get("labels"), list):
        values.extend(str(v) for v in label["labels"])
    flags = label.get("flags")
    if isinstance(flags, Mapping):
        raised = [str(name) for name, on in flags.items() if on is True]
        values.extend(raised or ["safe"])
    entities = label.get("entities")
    if isinstance(entities, list):
        values.extend(
            str(e["label"]) for e in entities if isinstance(e, Mapping) and "label" in e
        )
    if isinstance(label.get("category"), str):
        values.append(label["category"])
    if isinstance(label.get("quality"), int):
        values.append(f"quality {label['quality']}")
    return sorted(set(values))
