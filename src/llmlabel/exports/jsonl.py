"""`jsonl`: one JSON object per final label, for any task.

The lean form of a result row: the label and its provenance (who labeled it,
how sure, under which guideline and prompt versions, with which model), without
the samples, usage and input text the full results carry.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from llmlabel.exports.rows import ExportOptions, ExportStats, ResultRow, dump_json

__all__ = ["export_jsonl"]


def export_jsonl(rows: Iterable[ResultRow], task: str, options: ExportOptions,
                 stats: ExportStats) -> Iterator[str]:
    """One line per row: id, task, label, source, confidence, versions, model (and state if known)."""
    for row in rows:
        record = {
            "id": row.id,
            "task": task,
            "label": row.label,
            # CLI rows carry no source: they are always the LLM's consensus.
            "source": row.source or "llm",
            "confidence": row.confidence,
            "guideline_version": row.guideline_version,
            "prompt_version": row.prompt_version,
            "model": row.model,
        }
        if row.state is not None:
            record["state"] = row.state
        stats.written += 1
        yield dump_json(record) + "\n"
