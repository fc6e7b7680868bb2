"""One confidence score from every recorded signal: a small ridge logistic regression (pure).

Features are the label's recorded signals (self-consistency, task agreement
measures, mean token probability, verbalized confidence, valid share, samples
drawn), standardized on the training items; a signal missing on an item takes
the training mean, and a signal constant or absent in training is dropped.
Newton's method on a handful of features converges in a few steps, so plain
Python does it; numpy would be a dependency for nothing.

Why logistic and not isotonic: isotonic regression maps one score monotonically
and keeps its ties, and ties among raw scores (a consistency that takes three
values) are what a combined score has to break. The ridge penalty keeps the fit
finite when a few dozen items are perfectly separable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import exp, log, sqrt

from pydantic import BaseModel, ConfigDict

__all__ = ["FITTED_SIGNAL", "MIN_SCORE_ITEMS", "ScoreModel", "fit_score_model"]

FITTED_SIGNAL = "fitted"
"""Name of the combined score among a label's signals."""

MIN_SCORE_ITEMS = 20
"""Fewer judged items (or only one outcome among them): no model is fitted."""

_RIDGE = 1.0  # penalty on standardized weights; the intercept is not penalized
_ITERATIONS = 50
_BIAS_RIDGE = 1e-6
_MAX_STEP = 5.0

Signals = Mapping[str, float | None]


class ScoreModel(BaseModel):
    """P(label right | signals) = sigmoid(bias + sum w_i * (x_i - mean_i) / scale_i)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: list[str]
    means: list[float]
    scales: list[float]
    weights: list[float]
    bias: float
    n: int

    def predict(self, signals: Signals) -> float:
        """The fitted probability that a label with these signals is right."""
        z = self.bias
        for name, mean, scale, weight in zip(
            self.features, self.means, self.scales, self.weights, strict=True
        ):
            value = signals.get(name)
            if value is not None:
                z += weight * (float(value) - mean) / scale
        return _sigmoid(z)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + exp(-z))
    e = exp(z)
    return e / (1.0 + e)


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the matrix is small and positive definite)."""
    size = len(vector)
    a = [row[:] + [vector[i]] for i, row in enumerate(matrix)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        if abs(a[col][col]) < 1e-12:
            a[col][col] = 1e-12  # singular direction: take no step along it
        for row in range(col + 1, size):
            factor = a[row][col] / a[col][col]
            for k in range(col, size + 1):
                a[row][k] -= factor * a[col][k]
    out = [0.0] * size
    for row in range(size - 1, -1, -1):
        out[row] = (a[row][size] - sum(a[row][k] * out[k] for k in range(row + 1, size))) / a[row][row]
    return out


def fit_score_model(
    rows: Sequence[Signals], correct: Sequence[bool], *, exclude: Sequence[str] = (FITTED_SIGNAL,)
) -> ScoreModel | None:
    """Fit on judged items; None with too few items or a single outcome (nothing to rank)."""
    if len(rows) != len(correct):
        raise ValueError("one outcome per row")
    n = len(rows)
    if n < MIN_SCORE_ITEMS or all(correct) or not any(correct):
        return None
    names = sorted({k for row in rows for k, v in row.items() if v is not None} - set(exclude))
    features, means, scales, columns = [], [], [], []
    for name in names:
        present = [float(v) for row in rows if (v := row.get(name)) is not None]
        mean = sum(present) / len(present)
        var = sum((x - mean) ** 2 for x in present) / len(present)
        if var <= 1e-12:
            continue  # constant in training: says nothing about right and wrong
        features.append(name)
        means.append(mean)
        scales.append(sqrt(var))
        columns.append([
            (float(v) - mean) / sqrt(var) if (v := row.get(name)) is not None else 0.0
            for row in rows
        ])
    y = [1.0 if c else 0.0 for c in correct]
    size = len(features) + 1  # bias last
    beta = [0.0] * len(features) + [log(sum(y) / (n - sum(y)))]
    x_rows = [[col[i] for col in columns] + [1.0] for i in range(n)]
    for _ in range(_ITERATIONS):
        p = [_sigmoid(sum(b * x for b, x in zip(beta, xr, strict=True))) for xr in x_rows]
        grad = [sum((y[i] - p[i]) * x_rows[i][j] for i in range(n)) for j in range(size)]
        hess = [[sum(p[i] * (1 - p[i]) * x_rows[i][j] * x_rows[i][k] for i in range(n))
                 for k in range(size)] for j in range(size)]
        for j in range(size - 1):
            grad[j] -= _RIDGE * beta[j]
            hess[j][j] += _RIDGE
        # A whisper of penalty on the intercept keeps the system solvable when every
        # prediction saturates; clipped steps keep Newton from overshooting far.
        grad[-1] -= _BIAS_RIDGE * beta[-1]
        hess[-1][-1] += _BIAS_RIDGE
        step = [max(-_MAX_STEP, min(_MAX_STEP, s)) for s in _solve(hess, grad)]
        beta = [b + s for b, s in zip(beta, step, strict=True)]
        if max(abs(s) for s in step) < 1e-8:
            break
    return ScoreModel(
        features=features, means=means, scales=scales, weights=beta[:-1], bias=beta[-1], n=n
    )
