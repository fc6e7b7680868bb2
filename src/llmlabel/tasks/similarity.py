"""Text similarity for free-form answers: ROUGE-L F1 and token-set F1 on lowercased words.

Pure Python and dependency-free on purpose: the instruction task compares a
handful of sampled responses per item, so an embedding model would cost far
more (download, memory, CPU) than it buys. ROUGE-L rewards shared word order,
which is what "the same answer, worded a little differently" mostly keeps.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

__all__ = [
    "SIMILARITY_METRIC",
    "medoid",
    "normalize_text",
    "rouge_l_f1",
    "similarity",
    "similarity_matrix",
    "token_f1",
    "tokenize",
]

SIMILARITY_METRIC = "rougeL_f1"
"""Name of the metric `similarity` computes, reported next to every score."""

_WORD = re.compile(r"\w+", re.UNICODE)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens (runs of letters, digits and underscores)."""
    return _WORD.findall(text.lower())


def normalize_text(text: str) -> str:
    """Lowercase, punctuation stripped, whitespace collapsed: equal for trivial rewordings."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel over `a`.

    Crochemore et al. (2001): one big-int update per token of `b`, so two
    500-word answers cost 500 integer operations instead of 250,000 DP cells.
    """
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for position, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << position)
    full = (1 << len(a)) - 1
    row = full
    for token in b:
        matched = row & masks.get(token, 0)
        row = ((row + matched) | (row - matched)) & full
    return len(a) - row.bit_count()


def _f1(overlap: int, len_a: int, len_b: int) -> float:
    if len_a == 0 and len_b == 0:
        return 1.0
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len_b, overlap / len_a
    return 2 * precision * recall / (precision + recall)


def rouge_l_f1(a: str, b: str) -> float:
    """ROUGE-L F1 (LCS-based, beta=1) between two texts; 1.0 when both have no words."""
    tokens_a, tokens_b = tokenize(a), tokenize(b)
    return _f1(_lcs_length(tokens_a, tokens_b), len(tokens_a), len(tokens_b))


def token_f1(a: str, b: str) -> float:
    """Bag-of-words F1 (SQuAD style, counts clipped); 1.0 when both have no words."""
    tokens_a, tokens_b = tokenize(a), tokenize(b)
    overlap = sum((Counter(tokens_a) & Counter(tokens_b)).values())
    return _f1(overlap, len(tokens_a), len(tokens_b))


def similarity(a: str, b: str) -> float:
    """The similarity the instruction task uses everywhere (see SIMILARITY_METRIC)."""
    return rouge_l_f1(a, b)


def similarity_matrix(texts: Sequence[str]) -> list[list[float]]:
    """Symmetric matrix of pairwise `similarity`, 1.0 on the diagonal."""
    size = len(texts)
    matrix = [[1.0] * size for _ in range(size)]
    for i in range(size):
        for j in range(i + 1, size):
            matrix[i][j] = matrix[j][i] = similarity(texts[i], texts[j])
    return matrix


def medoid(texts: Sequence[str]) -> tuple[int, list[float]]:
    """Index of the text most similar on average to the others, and every text's mean.

    Ties go to the earliest text so the choice is deterministic. With a single
    text the mean is undefined and reported as 0.0; callers decide what that means.
    """
    if not texts:
        raise ValueError("medoid of no texts")
    matrix = similarity_matrix(texts)
    others = len(texts) - 1
    means = [(sum(row) - row[i]) / others if others else 0.0 for i, row in enumerate(matrix)]
    best = max(range(len(texts)), key=lambda i: (means[i], -i))
    return best, means
