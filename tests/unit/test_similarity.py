"""Text similarity: tokenization, ROUGE-L F1 (bit-parallel LCS), token F1, medoid."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from llmlabel.tasks.similarity import (
    _lcs_length,
    medoid,
    normalize_text,
    rouge_l_f1,
    similarity,
    similarity_matrix,
    token_f1,
    tokenize,
)


def _lcs_dp(a: list[str], b: list[str]) -> int:
    """Textbook O(n*m) LCS, the reference the bit-parallel version must match."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, 1):
        for j, y in enumerate(b, 1):
            diagonal = table[i - 1][j - 1] + 1 if x == y else 0
            table[i][j] = max(diagonal, table[i - 1][j], table[i][j - 1])
    return table[-1][-1]


def test_tokenize_lowercases_and_drops_punctuation() -> None:
    assert tokenize("Hello, World! It's 42.") == ["hello", "world", "it", "s", "42"]


def test_normalize_text_equal_for_case_space_and_punctuation() -> None:
    assert normalize_text("  The  answer:\nYES! ") == normalize_text("the answer yes")
    assert normalize_text("the answer yes") == "the answer yes"
    assert normalize_text("yes") != normalize_text("no")


@pytest.mark.parametrize("seed", range(30))
def test_bit_parallel_lcs_matches_dynamic_programming(seed: int) -> None:
    rng = random.Random(seed)
    vocab = ["a", "b", "c", "d", "e"][: rng.randint(1, 5)]
    a = [rng.choice(vocab) for _ in range(rng.randint(0, 40))]
    b = [rng.choice(vocab) for _ in range(rng.randint(0, 40))]
    assert _lcs_length(a, b) == _lcs_dp(a, b)


def test_rouge_l_known_value() -> None:
    # LCS of "the cat sat on the mat" / "the cat lay on the mat" is 5 of 6 words each side.
    assert rouge_l_f1("The cat sat on the mat", "the cat lay on the mat.") == pytest.approx(5 / 6)


def test_rouge_l_rewards_order_token_f1_does_not() -> None:
    a, b = "one two three four", "four three two one"
    assert token_f1(a, b) == pytest.approx(1.0)
    assert rouge_l_f1(a, b) == pytest.approx(0.25)


def test_token_f1_clips_repeated_words() -> None:
    # Overlap is min(count) per word: "the" x1, "dog" x1 -> 2; P = 2/2, R = 2/4.
    assert token_f1("the the the dog", "the dog") == pytest.approx(2 * 1.0 * 0.5 / 1.5)


@pytest.mark.parametrize("metric", [rouge_l_f1, token_f1])
def test_empty_texts(metric: Callable[[str, str], float]) -> None:
    assert metric("", "...") == 1.0
    assert metric("", "words here") == 0.0
    assert metric("words here", "") == 0.0


def test_similarity_is_symmetric_and_bounded() -> None:
    a, b = "Paris is the capital of France.", "The capital of France is Paris"
    assert similarity(a, b) == pytest.approx(similarity(b, a))
    assert 0.0 < similarity(a, b) < 1.0
    assert similarity(a, a) == 1.0


def test_similarity_matrix_diagonal_and_symmetry() -> None:
    texts = ["a b c", "a b d", "x y z"]
    matrix = similarity_matrix(texts)
    assert [matrix[i][i] for i in range(3)] == [1.0, 1.0, 1.0]
    assert matrix[0][1] == matrix[1][0] == pytest.approx(2 / 3)
    assert matrix[0][2] == 0.0


def test_medoid_picks_the_central_text() -> None:
    texts = [
        "the capital of france is paris",
        "paris is the capital of france",
        "the capital of france is paris, a large city",
        "bananas are yellow",
    ]
    best, means = medoid(texts)
    assert best == 0
    assert means[3] == 0.0
    assert means[0] == max(means)


def test_medoid_tie_goes_to_the_earliest() -> None:
    best, means = medoid(["same words", "same words"])
    assert (best, means) == (0, [1.0, 1.0])


def test_medoid_of_one_text_has_no_agreement() -> None:
    assert medoid(["alone"]) == (0, [0.0])
