"""What every benchmark part shares: a result row and the two statistics it reports."""

from __future__ import annotations

import statistics

# One line of the report: what was measured, the result, the target or a remark.
Row = tuple[str, str, str]


def median_ms(samples: list[float]) -> float:
    """The median of samples in seconds, in milliseconds."""
    return statistics.median(samples) * 1000


def p99_ms(samples: list[float]) -> float:
    """The 99th percentile (nearest rank) of samples in seconds, in milliseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
