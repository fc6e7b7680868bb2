"""`sharegpt`, `openai-chat`, `alpaca`: instruction data as supervised fine-tuning records.

- ShareGPT: `{"id", "conversations": [{"from": "human", ...}, {"from": "gpt", ...}]}`.
- OpenAI chat fine-tuning: `{"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}`
  and nothing else, since that file format allows no other top-level key.
- Alpaca: `{"instruction", "input", "output"}`, the context as `input`.

In the chat forms the context follows the instruction in the user message,
separated by a blank line. A generate-mode label supplies the response; a
rate-mode label (`{"quality", "issues"}`) keeps the item's own response and,
with `ExportOptions.min_quality`, drops pairs rated below it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from llmlabel.exports.rows import ExportOptions, ExportStats, ResultRow, dump_json

__all__ = ["export_alpaca", "export_openai_chat", "export_sharegpt", "instruction_pairs"]


class InstructionPair(NamedTuple):
    """One (instruction, context, response) triple ready to write."""

    id: str
    instruction: str
    context: str
    response: str

    @property
    def user_message(self) -> str:
        return f"{self.instruction}\n\n{self.context}" if self.context.strip() else self.instruction


def _response(row: ResultRow, options: ExportOptions, stats: ExportStats) -> str | None:
    label = row.label or {}
    if isinstance(label.get("response"), str):
        return str(label["response"])
    quality = label.get("quality")
    if isinstance(quality, int) and not isinstance(quality, bool):
        if options.min_quality is not None and quality < options.min_quality:
            stats.skip(f"quality below {options.min_quality}")
            return None
        return row.text_input("response")
    raise row.error("label needs 'response' (generate) or 'quality' (rate)",
                    field="label")


def instruction_pairs(rows: Iterable[ResultRow], options: ExportOptions, stats: ExportStats
                      ) -> Iterator[InstructionPair]:
    """The pairs the instruction formats write, after the quality filter."""
    for row in rows:
        response = _response(row, options, stats)
        if response is None:
            continue
        stats.written += 1
        yield InstructionPair(row.id, row.text_input("instruction"),
                              row.text_input("context", required=False), response)


def export_sharegpt(rows: Iterable[ResultRow], task: str, options: ExportOptions,
                    stats: ExportStats) -> Iterator[str]:
    """ShareGPT conversations, one human and one gpt turn."""
    for pair in instruction_pairs(rows, options, stats):
        yield dump_json({"id": pair.id, "conversations": [
            {"from": "human", "value": pair.user_message},
            {"from": "gpt", "value": pair.response},
        ]}) + "\n"


def export_openai_chat(rows: Iterable[ResultRow], task: str, options: ExportOptions,
                       stats: ExportStats) -> Iterator[str]:
    """OpenAI chat fine-tuning lines: a user and an assistant message."""
    for pair in instruction_pairs(rows, options, stats):
        yield dump_json({"messages": [
            {"role": "user", "content": pair.user_message},
            {"role": "assistant", "content": pair.response},
        ]}) + "\n"


def export_alpaca(rows: Iterable[ResultRow], task: str, options: ExportOptions,
                  stats: ExportStats) -> Iterator[str]:
    """Alpaca records: instruction, input (the context, maybe empty), output."""
    for pair in instruction_pairs(rows, options, stats):
        yield dump_json({"instruction": pair.instruction, "input": pair.context,
                         "output": pair.response}) + "\n"
