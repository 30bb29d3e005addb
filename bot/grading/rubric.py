"""The grading rubric: dimensions, maxima, tiers, and validation of one grade.

Base rubric (total 15): bpb_impact 0–3, size_compatibility 0–3, time_compatibility 0–2,
implementability 0–4, novelty 0–3. Tiers: **A** when total ≥ 10, **B** 7–9, **C** < 7.

When competitor data exists the rubric gains ``competitor_validated`` 0–2 (total 17) and the
tier thresholds are rescaled by the same fractions of the maximum, rounded up to whole points:
A ≥ ⌈10·17/15⌉ = 12, B ≥ ⌈7·17/15⌉ = 8 (so B is 8–11, C < 8). In general
``a_min = ceil(10·max/15)``, ``b_min = ceil(7·max/15)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bot.grading import taxonomy
from bot.state import COMPETITOR_VALIDATED_MAX, RUBRIC_MAX

BASE_TOTAL = sum(RUBRIC_MAX.values())  # 15
A_FRACTION = (10, BASE_TOTAL)
B_FRACTION = (7, BASE_TOTAL)


@dataclass(frozen=True)
class Rubric:
    dims: tuple[tuple[str, int], ...]

    @property
    def maxima(self) -> dict[str, int]:
        return dict(self.dims)

    @property
    def names(self) -> list[str]:
        return [d for d, _ in self.dims]

    @property
    def max_total(self) -> int:
        return sum(m for _, m in self.dims)

    @property
    def a_min(self) -> int:
        return math.ceil(A_FRACTION[0] * self.max_total / A_FRACTION[1])

    @property
    def b_min(self) -> int:
        return math.ceil(B_FRACTION[0] * self.max_total / B_FRACTION[1])

    @property
    def has_competitors(self) -> bool:
        return "competitor_validated" in self.maxima

    def tier(self, total: int) -> str:
        if total >= self.a_min:
            return "A"
        if total >= self.b_min:
            return "B"
        return "C"

    def thresholds_text(self) -> str:
        return (
            f"total {self.max_total}; tier A ≥ {self.a_min}, B {self.b_min}–{self.a_min - 1}, "
            f"C < {self.b_min}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"dims": self.maxima, "max_total": self.max_total, "a_min": self.a_min, "b_min": self.b_min}

    def validate(self, raw: Any) -> tuple[dict[str, int], str, str]:
        """Check one grade object; returns (scores, category, rationale) or raises ValueError.

        Nothing is coerced: a missing dimension, a float, a bool, a string or a value outside
        0..max is an error naming the field, as is an unknown category.
        """
        if not isinstance(raw, dict):
            raise ValueError(f"grade is a {type(raw).__name__}, not an object")
        scores: dict[str, int] = {}
        for name, top in self.dims:
            if name not in raw:
                raise ValueError(f"{name}: missing")
            v = raw[name]
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{name}: {v!r} is not an integer")
            if not 0 <= v <= top:
                raise ValueError(f"{name}: {v} is outside 0..{top}")
            scores[name] = v
        extra = sorted(set(raw) - set(self.names) - {"item_id", "category", "rationale"})
        if extra:
            raise ValueError(f"unexpected field(s) {', '.join(extra)}")
        category = raw.get("category", "")
        if not isinstance(category, str) or not taxonomy.is_category(category):
            raise ValueError(
                f"category: {category!r} is not one of {', '.join((*taxonomy.NAMES, taxonomy.OTHER))}"
            )
        rationale = raw.get("rationale", "")
        if not isinstance(rationale, str):
            raise ValueError("rationale: not a string")
        return scores, category, rationale


def make_rubric(with_competitors: bool) -> Rubric:
    dims = tuple(RUBRIC_MAX.items())
    if with_competitors:
        dims = (*dims, ("competitor_validated", COMPETITOR_VALIDATED_MAX))
    return Rubric(dims)
