"""A prior over the kinds of law a question is answered by (法律, 司法解释, 行政法规…), fitted on real questions.

In a library, articles of judicial interpretations and administrative regulations restate the laws they implement,
in nearly the same words, and outrank the law's article that a layperson's question is graded against. The prior
is one offset per category, added to the fused retrieval score: a logistic regression of "this candidate is a gold
article" on its fused score and its law's category, with each category's coefficient divided by the score's, so
that the offsets are in the fused score's units. Categories with too few gold articles to say anything get no
offset (as the best-supported one), so that a question about the constitution is not buried for want of examples.

`rag prior` (eval/prior.py) fits it on an index's candidates for a question set and writes prior.json into the
index directory; retrieval applies it when it is there. rag/index/prior.json, shipped with the package, is the one
fitted on the whole library indexed with the default model: an index with no prior of its own that encodes with
the same model uses it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["CategoryPrior", "PRIOR_FILE", "load_prior"]

PRIOR_FILE = "prior.json"  # in the index directory, beside its own calibration.json
PRIOR_PATH = Path(__file__).with_name(PRIOR_FILE)  # the shipped one, for the default model


@dataclass(frozen=True)
class CategoryPrior:
    offsets: dict[str, float]  # category → added to the fused score (≤ 0; unlisted categories: 0)
    model: str = ""  # the embedding model whose fused scores it was fitted on
    min_gold: int = 20  # gold articles a category needs in the fitting data to get an offset
    regularization: float = 1.0  # sklearn's C
    report: dict = field(default_factory=dict)  # what it was fitted on and what it did there

    def offset(self, category: str) -> float:
        return self.offsets.get(category, 0.0)

    @classmethod
    def fit(
        cls,
        scores: Sequence[float],
        categories: Sequence[str],
        gold: Sequence[bool],
        *,
        min_gold: int = 20,
        regularization: float = 1.0,
    ) -> CategoryPrior:
        """Fit on candidates: each one's fused score, its law's category and whether it is a gold article.
        Deterministic: the same candidates give the same offsets."""
        from sklearn.linear_model import LogisticRegression

        if len(scores) != len(categories) or len(scores) != len(gold):
            raise ValueError("scores, categories and gold must have one entry per candidate")
        gold_per_category = Counter(c for c, g in zip(categories, gold) if g)
        fitted = sorted(c for c, n in gold_per_category.items() if n >= min_gold)
        if len(fitted) < 2:
            return cls(offsets={}, min_gold=min_gold, regularization=regularization, report={"gold": dict(gold_per_category)})
        keep = [i for i, c in enumerate(categories) if c in fitted]
        X = np.array([[scores[i]] + [categories[i] == c for c in fitted] for i in keep], dtype=np.float64)
        y = np.array([bool(gold[i]) for i in keep])
        model = LogisticRegression(C=regularization, class_weight="balanced", max_iter=1000).fit(X, y)
        score_weight, *category_weights = model.coef_[0]
        if score_weight <= 0:
            raise ValueError("the fused score does not separate gold articles from the others: no prior can be fitted")
        raw = {c: w / score_weight for c, w in zip(fitted, category_weights)}
        best = max(raw.values())
        return cls(
            offsets={c: round(float(v - best), 4) for c, v in raw.items()},
            min_gold=min_gold,
            regularization=regularization,
            report={"gold": dict(sorted(gold_per_category.items())), "candidates": len(keep)},
        )

    def to_dict(self) -> dict:
        return {
            "offsets": self.offsets,
            "model": self.model,
            "min_gold": self.min_gold,
            "regularization": self.regularization,
            "report": self.report,
        }

    @classmethod
    def from_dict(cls, data: dict) -> CategoryPrior:
        return cls(
            offsets={str(c): float(v) for c, v in data["offsets"].items()},
            model=str(data.get("model", "")),
            min_gold=int(data.get("min_gold", 20)),
            regularization=float(data.get("regularization", 1.0)),
            report=dict(data.get("report", {})),
        )

    def save(self, path: Path) -> None:
        from .build import write_atomic

        write_atomic(Path(path), (json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n").encode("utf-8"))


def _read(path: Path) -> CategoryPrior:
    from ..errors import IndexUnavailable

    try:
        return CategoryPrior.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise IndexUnavailable(f"无法读取法规类别先验 {path}（{error}）。请重新运行 rag prior，或删除该文件") from error


def load_prior(index_dir: str | Path, model: str | None = None) -> CategoryPrior | None:
    """The prior `rag prior` wrote into the index directory; else, for an index encoding with `model`, the shipped
    one when it was fitted on that model's scores; else None."""
    own = Path(index_dir) / PRIOR_FILE
    if own.is_file():
        return _read(own)
    if model is not None and PRIOR_PATH.is_file():
        shipped = _read(PRIOR_PATH)
        return shipped if shipped.model == model else None
    return None
