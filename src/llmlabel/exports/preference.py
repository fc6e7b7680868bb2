"""`dpo` and `dpo-chat`: preference rankings as the pairs TRL's DPOTrainer reads.

TRL's dataset-formats guide names two preference layouts, both with the keys
`prompt`, `chosen`, `rejected`:

- standard: three strings; the trainer scores `prompt + chosen` against
  `prompt + rejected`, so the strings must join without a gap or a doubled
  separator. For a prompt in Anthropic HH form ("Human: ...\\n\\nAssistant: ...")
  we end the prompt with the "\\n\\nAssistant:" cue and start each response
  with a space, exactly as the hh-rlhf dialogues read; other prompts are
  written as given.
- conversational: `prompt` is a list of `{"role", "content"}` messages and
  `chosen`/`rejected` are one-message assistant lists; TRL applies the
  tokenizer's chat template. HH turns become user/assistant messages.

A ranking of k responses implies pairs in one of two ways (`ExportOptions.pairs`):
`all` (default) writes every ordered pair, k(k-1)/2 rows, since the ranking
asserts each of them; `best` writes the best response against each other one,
k-1 rows, for trainers that should not see middle-vs-worst comparisons. With two
responses both give the single pair.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from llmlabel.exports.rows import ExportOptions, ExportStats, ResultRow, dump_json

__all__ = ["export_dpo", "export_dpo_chat", "hh_to_messages", "ranked_pairs"]

_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):[ \t]?")
_ROLES = {"Human": "user", "Assistant": "assistant"}
_HH_CUE = "\n\nAssistant:"


def hh_to_messages(prompt: str) -> list[dict[str, str]]:
    """Split an HH dialogue ("Human: ...\\n\\nAssistant: ...") into chat messages.

    A prompt that does not start with a "Human:" or "Assistant:" turn is one
    user message, so plain instructions work too.
    """
    markers = list(_TURN.finditer(prompt))
    if not markers or markers[0].start() != 0:
        return [{"role": "user", "content": prompt.strip()}]
    messages = []
    for marker, following in zip(markers, [*markers[1:], None], strict=True):
        end = following.start() if following is not None else len(prompt)
        messages.append({"role": _ROLES[marker.group(1)], "content": prompt[marker.end():end].strip()})
    return messages


def _is_hh(prompt: str) -> bool:
    return bool(_TURN.match(prompt))


def ranked_pairs(ranking: list[int], mode: str) -> list[tuple[int, int]]:
    """(better, worse) index pairs implied by a best-first ranking."""
    if mode == "best":
        return [(ranking[0], worse) for worse in ranking[1:]]
    return [(ranking[i], ranking[j]) for i in range(len(ranking)) for j in range(i + 1, len(ranking))]


def _checked(row: ResultRow) -> tuple[str, list[str], list[int]]:
    """Prompt, responses and ranking of a row, or InputError saying what is wrong."""
    prompt = row.text_input("prompt")
    responses = row.input.get("responses")
    if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
        raise row.error("input field 'responses' must be a list of strings",
                        field="input.responses")
    ranking: Any = (row.label or {}).get("ranking")
    if (not isinstance(ranking, list) or not all(isinstance(i, int) for i in ranking)
            or len(set(ranking)) != len(ranking)
            or not all(0 <= i < len(responses) for i in ranking)):
        raise row.error(
            f"label 'ranking' must list distinct indices of the "
            f"{len(responses)} responses, got {ranking!r}", field="label.ranking")
    return prompt, responses, ranking


def _pairs(rows: Iterable[ResultRow], options: ExportOptions, stats: ExportStats
           ) -> Iterator[tuple[ResultRow, str, str, str]]:
    for row in rows:
        prompt, responses, ranking = _checked(row)
        if len(ranking) < 2:
            raise row.error(f"label 'ranking' orders {len(ranking)} response(s): no pair to write",
                            field="label.ranking")
        stats.written += 1
        for better, worse in ranked_pairs(ranking, options.pairs):
            yield row, prompt, responses[better], responses[worse]


def export_dpo(rows: Iterable[ResultRow], task: str, options: ExportOptions,
               stats: ExportStats) -> Iterator[str]:
    """Standard preference rows: `{"prompt", "chosen", "rejected"}` strings."""
    for _row, prompt, chosen, rejected in _pairs(rows, options, stats):
        if _is_hh(prompt):
            prompt_text, chosen, rejected = prompt.rstrip() + _HH_CUE, " " + chosen.strip(), " " + rejected.strip()
        else:
            prompt_text = prompt
        yield dump_json({"prompt": prompt_text, "chosen": chosen, "rejected": rejected}) + "\n"


def export_dpo_chat(rows: Iterable[ResultRow], task: str, options: ExportOptions,
                    stats: ExportStats) -> Iterator[str]:
    """Conversational preference rows: message lists for prompt, chosen and rejected."""
    for _row, prompt, chosen, rejected in _pairs(rows, options, stats):
        yield dump_json({
            "prompt": hh_to_messages(prompt),
            "chosen": [{"role": "assistant", "content": chosen.strip()}],
            "rejected": [{"role": "assistant", "content": rejected.strip()}],
        }) + "\n"
