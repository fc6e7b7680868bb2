"""NER exports: CoNLL BIO read back with a plain tab-separated reader, and character-offset spans.

The reader is the csv module (tab delimiter, no quoting), not llmlabel code. The
`conllu` package was tried and rejected: CoNLL-U treats lines starting with "#"
as comments, and WNUT-17 tweets have "#" tokens.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from llmlabel.errors import InputError
from llmlabel.exports import ExportOptions, export, parse_result_lines
from llmlabel.exports.ner import bio_to_spans, spans_to_bio, tokenize
from tests.conftest import load_dev_items


def make_row(item_id: str, text: str, entities: list[tuple[int, int, str]],
             tokens: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"text": text}
    if tokens is not None:
        item["tokens"] = tokens
    return {
        "id": item_id, "task": "ner", "input": item, "state": "auto_accepted", "confidence": 0.9,
        "label": {"entities": [{"start": s, "end": e, "label": lab, "text": text[s:e]}
                               for s, e, lab in entities]},
        **extra,
    }


@dataclass
class Sentence:
    tokens: list[dict[str, str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Any:
        return iter(self.tokens)


def read_conll(text: str) -> list[Sentence]:
    """Two-column CoNLL: rows of form<TAB>tag, an empty row ends a sentence, `# id = x` is metadata."""
    sentences, current = [], Sentence()
    for cells in csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE):
        if not cells:
            if current.tokens:
                sentences.append(current)
            current = Sentence()
        elif len(cells) == 1 and cells[0].startswith("# id = "):
            current.metadata["id"] = cells[0].removeprefix("# id = ")
        else:
            form, tag = cells  # exactly two columns, or this unpacking fails the test
            current.tokens.append({"form": form, "tag": tag})
    assert not current.tokens, "the last sentence must end with a blank line"
    return sentences


def dev_rows() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    rows = []
    for item in load_dev_items("ner"):
        entities = [(e["start"], e["end"], e["label"]) for e in item["entities"]]
        rows.append((item, make_row(item["id"], item["text"], entities, item["tokens"])))
    return rows


def test_conll_of_gold_spans_reproduces_the_datasets_own_bio_tags() -> None:
    # The WNUT-17 dev items carry both the gold spans and the annotators' BIO tags;
    # exporting the spans must give back exactly those tags, token for token.
    pairs = dev_rows()
    out = "".join(export([row for _item, row in pairs], "conll", "ner",
                         options=ExportOptions(conll_ids=True)))
    sentences = read_conll(out)
    assert len(sentences) == len(pairs)
    for (item, _row), sentence in zip(pairs, sentences, strict=True):
        assert sentence.metadata["id"] == item["id"]
        assert [t["form"] for t in sentence] == item["tokens"]
        assert [t["tag"] for t in sentence] == item["tags"]


def test_spans_survive_the_round_trip_through_conll() -> None:
    pairs = dev_rows()
    sentences = read_conll("".join(export([row for _i, row in pairs], "conll", "ner")))
    for (item, _row), sentence in zip(pairs, sentences, strict=True):
        tokens = tokenize(item["text"], [t["form"] for t in sentence])
        decoded = bio_to_spans(tokens, [t["tag"] for t in sentence])
        assert decoded == sorted((e["start"], e["end"], e["label"]) for e in item["entities"])


def test_lines_are_token_tab_tag_with_a_blank_line_after_each_sentence() -> None:
    rows = [make_row("a", "Lee met Ann", [(0, 3, "person"), (8, 11, "person")]),
            make_row("b", "no names here", [])]
    out = "".join(export(rows, "conll", "ner"))
    assert out == "Lee\tB-person\nmet\tO\nAnn\tB-person\n\nno\tO\nnames\tO\nhere\tO\n\n"


def test_whitespace_tokens_keep_their_offsets_when_spaces_repeat() -> None:
    text = "at  New   York  today"
    # "New   York" is characters 4..14; whitespace split must still find both words in it.
    out = "".join(export([make_row("a", text, [(4, 14, "location")])], "conll", "ner"))
    tags = [(t["form"], t["tag"]) for t in read_conll(out)[0]]
    assert tags == [("at", "O"), ("New", "B-location"), ("York", "I-location"), ("today", "O")]


def test_given_tokens_are_located_in_text_that_is_not_their_space_join() -> None:
    text = "Lee's house"
    tokens = tokenize(text, ["Lee", "'s", "house"])
    assert tokens == [("Lee", 0, 3), ("'s", 3, 5), ("house", 6, 11)]
    out = "".join(export([make_row("a", text, [(0, 3, "person")], ["Lee", "'s", "house"])],
                         "conll", "ner"))
    assert [t["tag"] for t in read_conll(out)[0]] == ["B-person", "O", "O"]


def test_a_span_cutting_a_token_is_widened_to_whole_tokens() -> None:
    text = "New Yorkers love it"
    tokens = tokenize(text)
    tags, dropped = spans_to_bio(tokens, [(0, 7, "location")])  # "New Yor"
    assert (tags, dropped) == (["B-location", "I-location", "O", "O"], 0)
    assert bio_to_spans(tokens, tags) == [(0, 11, "location")]  # "New Yorkers"


def test_an_entity_left_without_tokens_fails_the_row_instead_of_being_dropped() -> None:
    # The second span lies inside the first one's only token: written, it would be lost.
    rows = [make_row("a", "Harrypotter rocks", [(0, 11, "creative-work"), (0, 5, "person")])]
    with pytest.raises(InputError, match=r"row 'a': 1 entity would cover no token") as info:
        "".join(export(rows, "conll", "ner"))
    assert (info.value.item, info.value.field) == ("a", "label.entities")
    # spans_to_bio itself still says what it had to drop (earlier entity keeps the token).
    tags, dropped = spans_to_bio(tokenize("Harrypotter rocks"),
                                 [(0, 11, "creative-work"), (0, 5, "person")])
    assert (tags, dropped) == (["B-creative-work", "O"], 1)


def test_bio_decoding_follows_conlleval_for_stray_i_tags() -> None:
    tokens = tokenize("a b c d")
    # I- with no open entity starts one; I- of another label starts a new one.
    assert bio_to_spans(tokens, ["I-x", "I-x", "I-y", "O"]) == [(0, 3, "x"), (4, 5, "y")]
    assert bio_to_spans(tokens, ["B-x", "B-x", "O", "I-x"]) == [(0, 1, "x"), (2, 3, "x"), (6, 7, "x")]


def test_an_item_without_tokens_fails_the_row_instead_of_being_skipped() -> None:
    with pytest.raises(InputError, match=r"row 'a': the text has no token") as info:
        "".join(export([make_row("a", "   ", [])], "conll", "ner"))
    assert info.value.field == "input.text"


def test_an_entity_outside_the_text_names_the_row_and_its_line() -> None:
    bad = make_row("x7", "short", [(0, 3, "person")])
    bad["label"]["entities"][0]["end"] = 50
    lines = [json.dumps(make_row("ok", "fine text", [])), json.dumps(bad)]
    with pytest.raises(InputError, match=r"row 'x7' \(line 2\): entity 0 needs") as info:
        "".join(export(parse_result_lines(lines), "conll", "ner"))
    assert info.value.line == 2


def test_tokens_that_are_not_in_the_text_are_an_error() -> None:
    row = make_row("a", "one two", [], tokens=["one", "three"])
    with pytest.raises(InputError, match="'three' is not in the text"):
        "".join(export([row], "conll", "ner"))


def test_spans_format_writes_sorted_entities_with_their_text() -> None:
    row = make_row("a", "Ann visited Paris", [(12, 17, "location"), (0, 3, "person")])
    row["label"]["entities"][0]["text"] = "stale"  # the text slice is authoritative
    (line,) = "".join(export([row], "spans", "ner")).splitlines()
    assert json.loads(line) == {"id": "a", "text": "Ann visited Paris", "entities": [
        {"start": 0, "end": 3, "label": "person", "text": "Ann"},
        {"start": 12, "end": 17, "label": "location", "text": "Paris"},
    ]}


def test_spans_round_trip_on_the_dev_set() -> None:
    pairs = dev_rows()
    lines = "".join(export([row for _i, row in pairs], "spans", "ner")).splitlines()
    for (item, _row), line in zip(pairs, lines, strict=True):
        record = json.loads(line)
        assert record["text"] == item["text"]
        assert [(e["start"], e["end"], e["label"], e["text"]) for e in record["entities"]] == sorted(
            (e["start"], e["end"], e["label"], e["text"]) for e in item["entities"])
