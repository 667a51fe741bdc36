"""Wrong answers for the benchmarks: a plausible slip in a right one."""

from __future__ import annotations

from typing import Any


def perturb(value: Any) -> Any:
    """A plausible wrong value: numbers scaled by 1.1 (+0.05), lists entry-wise, strings kept."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return round(value * 1.1 + 0.05, 6)
    if isinstance(value, list):
        return [perturb(v) for v in value]
    return value
