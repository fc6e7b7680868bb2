"""Confidence intervals for a precision: the Wilson score interval (pure)."""

from __future__ import annotations

from math import sqrt

__all__ = ["Z_95", "wilson_interval"]

Z_95 = 1.959963984540054
"""Two-sided 95 % normal quantile; the lower end alone is then a 97.5 % one-sided bound.

Two-sided on purpose: the report shows the interval, and the fit uses its lower
end, so both read off the same 95 % interval (the issue asks for the lower 95 %
bound; the one-sided 95 % bound, z = 1.645, would accept about 5 % more).
"""


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion `correct` / `n`; (0, 1) when n is 0.

    Chosen over the normal approximation, which collapses to a zero-width
    interval at 0 or n correct (exactly where a high-precision threshold
    lives), and over Clopper-Pearson, which needs the beta quantile function
    and is more conservative than the target asks.
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= correct <= n:
        raise ValueError(f"correct={correct} outside 0..{n}")
    p = correct / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)
