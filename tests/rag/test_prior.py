"""The category prior: fitted offsets in fused-score units, deterministic, saved and loaded beside an index."""

import json

import numpy as np
import pytest

from rag.errors import IndexUnavailable
from rag.index.prior import PRIOR_FILE, CategoryPrior, load_prior


def _candidates(seed=0, n=4000):
    """Candidates whose chance of being gold rises with the score, and is lower for 司法解释 at the same score:
    log-odds = 8 × score − 5 − 1.6 × [司法解释], so its offset should be about −1.6 / 8 = −0.2."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 1, n)
    categories = rng.choice(["法律", "司法解释"], n)
    logits = 8 * scores - 5 - 1.6 * (categories == "司法解释")
    gold = rng.uniform(0, 1, n) < 1 / (1 + np.exp(-logits))
    return scores.tolist(), categories.tolist(), gold.tolist()


def test_offsets_are_the_category_weights_in_score_units():
    prior = CategoryPrior.fit(*_candidates(), min_gold=20, regularization=100.0)
    assert set(prior.offsets) == {"法律", "司法解释"}
    assert prior.offsets["法律"] == 0.0
    assert prior.offsets["司法解释"] == pytest.approx(-0.2, abs=0.05)
    assert prior.offset("宪法") == 0.0  # no evidence, no offset


def test_refit_on_the_same_candidates_gives_the_same_prior():
    data = _candidates(seed=3)
    assert CategoryPrior.fit(*data).to_dict() == CategoryPrior.fit(*data).to_dict()


def test_a_category_with_too_few_gold_articles_gets_no_offset():
    scores, categories, gold = _candidates()
    # Four 行政法规 candidates, two of them gold: far below min_gold
    scores += [0.1, 0.2, 0.9, 0.95]
    categories += ["行政法规"] * 4
    gold += [False, False, True, True]
    prior = CategoryPrior.fit(scores, categories, gold, min_gold=20)
    assert "行政法规" not in prior.offsets and prior.offset("行政法规") == 0.0
    assert prior.report["gold"]["行政法规"] == 2


def test_one_category_with_evidence_gives_an_empty_prior():
    scores, _, gold = _candidates()
    prior = CategoryPrior.fit(scores, ["法律"] * len(scores), gold)
    assert prior.offsets == {}


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError):
        CategoryPrior.fit([0.1, 0.2], ["法律"], [True, False])


def test_saved_prior_loads_from_the_index_directory(tmp_path):
    prior = CategoryPrior({"法律": 0.0, "行政法规": -0.21}, report={"questions": 3})
    prior.save(tmp_path / PRIOR_FILE)
    assert load_prior(tmp_path) == prior
    assert load_prior(tmp_path / "elsewhere") is None


def test_a_corrupt_prior_file_names_the_fix(tmp_path):
    (tmp_path / PRIOR_FILE).write_text(json.dumps({"offsets": "not a table"}), encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="rag prior"):
        load_prior(tmp_path)


def test_an_index_without_its_own_prior_uses_the_shipped_one_for_its_model(tmp_path, monkeypatch):
    import rag.index.prior

    shipped = CategoryPrior({"法律": 0.0, "司法解释": -0.1}, model="default-model")
    shipped.save(tmp_path / "shipped.json")
    monkeypatch.setattr(rag.index.prior, "PRIOR_PATH", tmp_path / "shipped.json")
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    assert load_prior(index_dir, "default-model") == shipped
    assert load_prior(index_dir, "models/e5-small-stard") is None  # fitted on another model's scores
    assert load_prior(index_dir) is None
    own = CategoryPrior({"法律": 0.0, "行政法规": -0.2}, model="default-model")
    own.save(index_dir / PRIOR_FILE)
    assert load_prior(index_dir, "default-model") == own
