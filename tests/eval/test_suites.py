"""One-law tasks: how a suite is read and a question set split per law, and that every fit is leave-law-out."""

import json

import numpy as np
import pytest

from eval.calibrate import FEATURES, Example, Targets, choose_answers, out_of_fold
from eval.harness import OFFTOPIC
from eval.questions import EvalError
from eval.suites import LAW_FOLDS, law_fold, load_suite, per_law_suite

LAWS = {
    "id-a": "甲法",
    "id-b": "乙条例",
    "id-c": "丙规定",
}


@pytest.fixture
def laws(tmp_path):
    folder = tmp_path / "laws"
    folder.mkdir()
    for doc_id, title in LAWS.items():
        (folder / f"{doc_id}.md").write_text(
            f"---\nid: {doc_id}\ntitle: {title}\n---\n\n**{title}**\n\n- **第一条**　　为了规范{title}，制定本法。\n- **第二条**　　本法自公布之日起施行。\n",
            encoding="utf-8",
        )
    return folder


def _questions(path, counts):
    lines = []
    for doc_id, count in counts.items():
        for i in range(count):
            gold = [{"law": LAWS[doc_id], "article": "第一条", "doc_id": doc_id}]
            lines.append(json.dumps({"id": f"{doc_id}-{i}", "question": f"{LAWS[doc_id]}的问题{i}？", "gold": gold}, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_question_set_splits_into_one_task_per_law_with_enough_questions(laws, tmp_path):
    questions = _questions(tmp_path / "q.jsonl", {"id-a": 6, "id-b": 5, "id-c": 2})
    suite = per_law_suite(questions, laws, min_questions=5, offtopic_per_task=4)
    assert [t.doc_id for t in suite.tasks] == ["id-a", "id-b"]  # most questions first; id-c has too few
    for task in suite.tasks:
        own = [q for q in task.questions if q.type != OFFTOPIC]
        off = [q for q in task.questions if q.type == OFFTOPIC]
        assert all(g.doc_id == task.doc_id for q in own for g in q.gold)
        assert len(off) == 4 and all(not q.gold for q in off)
        # an off-topic question is one whose gold is in another law, never the task's own
        assert not {q.id.split(":", 1)[1] for q in off} & {q.id for q in own}
        assert task.law.name == f"{task.doc_id}.md"
    again = per_law_suite(questions, laws, min_questions=5, offtopic_per_task=4)
    assert again == suite  # the off-topic sample is the same every run


def test_a_suite_file_names_laws_by_title_and_samples_off_topic_questions(laws, tmp_path):
    own = _questions(tmp_path / "own.jsonl", {"id-b": 3})
    others = _questions(tmp_path / "others.jsonl", {"id-a": 3, "id-b": 3, "id-c": 3})
    suite_file = tmp_path / "suite.toml"
    suite_file.write_text(
        f'name = "t"\nlaws = "{laws}"\nofftopic = "{others}"\nofftopic_per_task = 5\n\n[[task]]\nlaw = "乙条例"\nquestions = ["{own}"]\n',
        encoding="utf-8",
    )
    (task,) = load_suite(suite_file).tasks
    assert task.doc_id == "id-b" and task.name == "乙条例"
    off = [q for q in task.questions if q.type == OFFTOPIC]
    assert len(off) == 5 and not any(q.id.startswith(f"{OFFTOPIC}:id-b") for q in off)
    suite_file.write_text(f'laws = "{laws}"\n[[task]]\nlaw = "丁法"\nquestions = ["{own}"]\n', encoding="utf-8")
    with pytest.raises(EvalError, match="丁法"):
        load_suite(suite_file)


def _examples(laws: int = 10, per_law: int = 20) -> list[Example]:
    rng = np.random.default_rng(0)
    examples = []
    for law in range(laws):
        for i in range(per_law):
            features = rng.normal(size=len(FEATURES))
            label = int(features[0] + rng.normal(scale=0.3) > 0)
            examples.append(Example(f"law{law}:{i}", f"law{law}", "answerable" if label else "near", features.tolist(), 1, label))
    return examples


def test_the_folds_hold_out_whole_laws():
    examples = _examples()
    folds: dict[str, set[int]] = {}
    for example in examples:
        folds.setdefault(example.law, set()).add(law_fold(example.law))
    assert all(len(f) == 1 for f in folds.values()) and len({f for fs in folds.values() for f in fs}) > 1
    assert all(0 <= law_fold(law) < LAW_FOLDS for law in folds)


def test_a_law_is_never_on_both_sides_of_a_fit():
    """Flipping every label of one law does not move that law's out-of-fold probabilities: no model that
    scored it was fitted on it."""
    examples = _examples()
    before = out_of_fold(examples, "answers", 1.0)
    flipped = [Example(e.id, e.law, e.group, e.features, e.covered, 1 - e.answers) if e.law == "law3" else e for e in examples]
    after = out_of_fold(flipped, "answers", 1.0)
    own = np.array([e.law == "law3" for e in examples])
    assert np.allclose(before[own], after[own])
    assert not np.allclose(before[~own], after[~own])  # the other laws' models did see it


def test_the_answered_target_holds_for_written_questions_however_many_real_ones_there_are():
    """90 real questions answered with confidence and 10 written ones with less: a threshold that answers 90 % of
    the pooled 100 would answer only some of the written ones; the chosen one answers 90 % of each source."""
    real = [Example(f"law0:real{i}", "law0", "answerable", [0.0] * len(FEATURES), 1, 1, "real") for i in range(90)]
    written = [Example(f"law1:w{i}", "law1", "answerable", [0.0] * len(FEATURES), 1, 1) for i in range(10)]
    examples = real + written
    answers = np.array([0.9] * 90 + [0.1 * (i + 1) for i in range(10)])
    covered = np.ones(len(examples))
    threshold = choose_answers(examples, covered, answers, 0.5, Targets())
    answered = answers >= threshold
    assert answered[90:].mean() >= 0.9 and answered[:90].all()
    assert threshold == pytest.approx(0.2)  # the pooled rate alone would have allowed 0.9 (90 of 100 answered)



def test_the_shipped_held_out_suite_shares_no_law_with_what_is_fitted():
    """The laws of eval/suites/test.toml are in neither the tuning suite nor the STARD tuning split's one-law tasks
    (the bundled law, on both sides with disjoint question sets by design, has no doc_id in its gold)."""
    import tomllib

    from eval.questions import load_questions
    from eval.suites import MIN_QUESTIONS, ROOT, gold_law_counts

    def suite_laws(name: str) -> set[str]:
        suite = tomllib.loads((ROOT / "eval" / "suites" / name).read_text(encoding="utf-8"))
        questions = [q for task in suite["task"] for path in task["questions"] for q in load_questions(ROOT / path)]
        return {g.doc_id for q in questions for g in q.gold if g.doc_id}

    held_out, tuned = suite_laws("test.toml"), suite_laws("tune.toml")
    stard = gold_law_counts(load_questions(ROOT / "eval" / "questions" / "stard_tune.jsonl"))
    fitted_stard = {law for law, count in stard.items() if count >= MIN_QUESTIONS}
    assert len(held_out) >= 5 and len(tuned) >= 4
    assert not held_out & tuned and not held_out & fitted_stard
