from __future__ import annotations

import pytest

from llmlabel.evaluate import auroc, errors_in_lowest


def test_auroc_perfect_random_and_inverted() -> None:
    correct = [True, True, False, False]
    assert auroc([0.9, 0.8, 0.2, 0.1], correct) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], correct) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], correct) == 0.5


def test_auroc_hand_computed_with_tie() -> None:
    # pos {0.9, 0.4}, neg {0.4, 0.1}: pairs 0.9>0.4, 0.9>0.1, 0.4=0.4 (half), 0.4>0.1 -> 3.5/4
    assert auroc([0.9, 0.4, 0.4, 0.1], [True, True, False, False]) == pytest.approx(0.875)


def test_auroc_undefined_with_one_class() -> None:
    assert auroc([0.1, 0.2], [True, True]) is None


def test_errors_in_lowest_share() -> None:
    scores = [0.1, 0.2, 0.9, 0.8, 0.7, 0.6, 0.95, 0.85, 0.75, 0.65]
    correct = [False, False] + [True] * 7 + [False]
    # lowest 20% = two items (0.1, 0.2), both wrong; 3 wrong in all -> 2/3
    assert errors_in_lowest(scores, correct) == pytest.approx(2 / 3)
    assert errors_in_lowest(scores, [True] * 10) is None
