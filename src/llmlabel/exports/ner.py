"""`conll` and `spans`: NER labels as CoNLL BIO tags and as character-offset spans.

CoNLL: one `token<TAB>tag` line per token, a blank line after each sentence
(one item is one sentence). Tokens are the item's `tokens` when it has them
(their offsets are found left to right in `text`, so `text` need not be the
tokens joined by single spaces), else the whitespace-separated words of `text`.

Spans become tags by character overlap: a token that shares at least one
character with an entity belongs to it; the first such token gets `B-label`,
the rest `I-label`. So a span that cuts a token ("Lon" of "London") is widened
to whole tokens: read back, it covers "London". Token-aligned spans, the normal
case, come back exactly. Entities never overlap in llmlabel's NER labels; if a
token overlaps two anyway, the entity that starts first (at equal starts, the
longer) keeps it, and an entity left with no token makes the row an error
(writing the sentence without it would lose a label). Tags are decoded the conlleval way (`bio_to_spans`): an `I-` tag
that does not continue an open entity of its label starts a new one.

`ExportOptions.conll_ids` puts a `# id = <item id>` line (no tab) before each
sentence. Note that CoNLL-U readers (e.g. the `conllu` package) take every line
starting with "#" for a comment, and tweets have "#" and "#hashtag" tokens:
read this two-column CoNLL with a plain reader that splits lines on the tab,
as the CoNLL-2003 and WNUT-17 loaders do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from llmlabel.exports.rows import ExportOptions, ExportStats, ResultRow, dump_json

__all__ = ["bio_to_spans", "entities_of", "export_conll", "export_spans", "spans_to_bio", "tokenize"]

_WORD = re.compile(r"\S+")


def tokenize(text: str, tokens: list[str] | None = None) -> list[tuple[str, int, int]]:
    """(token, start, end) of each token; given tokens are located in `text` in order."""
    if tokens is None:
        return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
    located, cursor = [], 0
    for token in tokens:
        start = text.find(token, cursor)
        if not token or start < 0:
            raise ValueError(f"token {token!r} is not in the text after offset {cursor}")
        located.append((token, start, start + len(token)))
        cursor = start + len(token)
    return located


def spans_to_bio(tokens: list[tuple[str, int, int]], entities: list[tuple[int, int, str]]
                 ) -> tuple[list[str], int]:
    """BIO tag per token, and how many entities covered no token (and were dropped)."""
    tags = ["O"] * len(tokens)
    dropped = 0
    # Earlier entities claim tokens first; at the same start the longer one does.
    for start, end, label in sorted(entities, key=lambda e: (e[0], -e[1], e[2])):
        first = True
        for index, (_tok, tok_start, tok_end) in enumerate(tokens):
            if tok_start < end and start < tok_end and tags[index] == "O":
                tags[index] = f"{'B' if first else 'I'}-{label}"
                first = False
        dropped += first
    return tags, dropped


def bio_to_spans(tokens: list[tuple[str, int, int]], tags: list[str]) -> list[tuple[int, int, str]]:
    """Character spans (start, end, label) decoded from BIO tags, conlleval style."""
    spans: list[tuple[int, int, str]] = []
    open_span: list[Any] | None = None
    for (_tok, tok_start, tok_end), tag in zip(tokens, tags, strict=True):
        prefix, _, label = tag.partition("-")
        if prefix == "I" and open_span is not None and open_span[2] == label:
            open_span[1] = tok_end
            continue
        if open_span is not None:
            spans.append((open_span[0], open_span[1], open_span[2]))
            open_span = None
        if prefix in ("B", "I"):
            open_span = [tok_start, tok_end, label]
    if open_span is not None:
        spans.append((open_span[0], open_span[1], open_span[2]))
    return spans


def entities_of(row: ResultRow, text: str) -> list[tuple[int, int, str]]:
    """(start, end, label) of the row's entities, checked against the text."""
    entities = (row.label or {}).get("entities")
    if not isinstance(entities, list):
        raise row.error("label 'entities' must be a list", field="label.entities")
    spans = []
    for n, entity in enumerate(entities):
        start, end, label = (entity.get(k) if isinstance(entity, dict) else None
                             for k in ("start", "end", "label"))
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(label, str)
                and 0 <= start < end <= len(text)):
            raise row.error(
                f"entity {n} needs 0 <= start < end <= {len(text)} and a label, "
                f"got {entity!r}", field=f"label.entities.{n}")
        spans.append((start, end, label))
    return spans


def _tokens_of(row: ResultRow, text: str) -> list[tuple[str, int, int]]:
    given = row.input.get("tokens")
    if given is not None and not (isinstance(given, list) and all(isinstance(t, str) for t in given)):
        raise row.error("input field 'tokens' must be a list of strings",
                        field="input.tokens")
    try:
        tokens = tokenize(text, given)
    except ValueError as exc:
        raise row.error(str(exc), field="input.tokens") from exc
    for token, _start, _end in tokens:
        # A tab or newline inside a token would break the two-column layout for every reader.
        if any(ch.isspace() for ch in token):
            raise row.error(f"token {token!r} contains whitespace", field="input.tokens")
    return tokens


def export_conll(rows: Iterable[ResultRow], task: str, options: ExportOptions,
                 stats: ExportStats) -> Iterator[str]:
    """CoNLL BIO: `token<TAB>tag` lines, one sentence per item, blank line between."""
    for row in rows:
        text = row.text_input("text")
        tokens = _tokens_of(row, text)
        if not tokens:
            raise row.error("the text has no token to tag", field="input.text")
        tags, dropped = spans_to_bio(tokens, entities_of(row, text))
        if dropped:
            # Writing the sentence without them would hand out a file that lost labels.
            raise row.error(f"{dropped} entit{'y' if dropped == 1 else 'ies'} would cover no "
                            f"token of its own (between tokens, or overlapping another)",
                            field="label.entities")
        header = f"# id = {row.id}\n" if options.conll_ids else ""
        stats.written += 1
        yield header + "".join(f"{tok}\t{tag}\n" for (tok, _s, _e), tag in zip(tokens, tags, strict=True)) + "\n"


def export_spans(rows: Iterable[ResultRow], task: str, options: ExportOptions,
                 stats: ExportStats) -> Iterator[str]:
    """`{"id", "text", "entities": [{"start", "end", "label", "text"}]}` per item."""
    for row in rows:
        text = row.text_input("text")
        entities = [{"start": s, "end": e, "label": label, "text": text[s:e]}
                    for s, e, label in sorted(entities_of(row, text))]
        stats.written += 1
        yield dump_json({"id": row.id, "text": text, "entities": entities}) + "\n"
