"""Fused candidates → the same candidates re-scored by the index's second model, where the first stage is unsure.

The first stage (e5-small dense + sentences + BM25) often ranks the right article second when its top two are
close; EmbeddingGemma, whose chunk vectors the index stores (rag/index/rescore.py), orders them better but
costs ~50 ms more per question. So only questions whose best two articles lie within `margin` of each other
are re-scored: fused + weight × min-max(second model's cosine), over the first `candidates` rows. `margin` is
fitted (`rag fit-rescore`) so that at most `max_share` of questions pay for the second model: the median
question keeps today's latency."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..index import Index, write_atomic

__all__ = ["RescoreSettings", "RESCORE_SETTINGS_PATH", "SHIPPED_RESCORE", "load_rescore_settings", "rescore_order", "top_margin"]

RESCORE_SETTINGS_PATH = Path(__file__).with_name("rescore.json")


@dataclass(frozen=True)
class RescoreSettings:
    weight: float = 1.0  # of the second model's min-max-normalised cosine, added to the fused score
    margin: float = 0.0  # re-score when the best two articles' fused scores differ by less (0: never)
    candidates: int = 20  # first-stage rows re-scored
    max_share: float = 0.4  # the fit keeps the share of questions re-scored at most this
    fitted: dict = field(default_factory=dict)  # what the fit saw and measured (rag fit-rescore)

    def save(self, path: Path = RESCORE_SETTINGS_PATH) -> None:
        write_atomic(path, (json.dumps(asdict(self), ensure_ascii=False, indent=1) + "\n").encode("utf-8"))


def load_rescore_settings(path: Path = RESCORE_SETTINGS_PATH) -> RescoreSettings:
    """The shipped settings; none (never re-score) where the file is missing."""
    try:
        return RescoreSettings(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return RescoreSettings()


def top_margin(index: Index, ranked: Sequence[int], fused: dict[int, float]) -> float:
    """Fused score of the best article minus that of the next other article (parts of one article count once)."""
    first = ranked[0] if ranked else None
    if first is None:
        return float("inf")
    key = (index.chunks[first].doc_id, index.chunks[first].article or first)
    runner = next((r for r in ranked[1:] if (index.chunks[r].doc_id, index.chunks[r].article or r) != key), None)
    return float("inf") if runner is None else fused[first] - fused[runner]


def rescore_order(
    ranked: list[int],
    fused: dict[int, float],
    similarities: Callable[[list[int]], np.ndarray | None],
    settings: RescoreSettings,
    fixed: Callable[[int], bool] = lambda row: False,
) -> tuple[list[int], dict[int, float]]:
    """`ranked` (rows by fused score) with the articles among its first `settings.candidates` rows re-scored, and
    their new scores (the rest keep theirs); unchanged where the second model gives no similarities. Rows
    `fixed` says so of (a law's document record: its metadata, not an article) keep their places."""
    head = ranked[: settings.candidates]
    movable = [row for row in head if not fixed(row)]
    cosines = similarities(movable) if len(movable) > 1 else None
    if cosines is None:
        return ranked, {}
    spread = float(cosines.max() - cosines.min())
    normalised = (cosines - cosines.min()) / spread if spread > 0 else np.zeros_like(cosines)
    scores = {row: fused[row] + settings.weight * float(n) for row, n in zip(movable, normalised)}
    moved = iter(sorted(movable, key=lambda r: (-scores[r], r)))
    return [row if fixed(row) else next(moved) for row in head] + ranked[len(head) :], scores


SHIPPED_RESCORE = load_rescore_settings()
