"""The stance models: deterministic fit, the shipped calibration reproducible from its feature table,
decisions on fixed feature vectors, and the answer path on deferral clauses."""

import json
import re
from dataclasses import replace

import numpy as np
import pytest

from eval.calibrate import FEATURE_TABLE, bundled_law, fit_calibration, load_examples
from rag import Stance, answer
from rag.answering.abstention import FEATURES, TOPIC_FEATURES, Calibration, StanceModel, Support, SupportModel, defers, load_calibration
from rag.answering.reader import deferral_note


def synthetic(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, len(FEATURES)))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    return X, y


def test_fit_is_deterministic_and_learns_the_signal():
    X, y = synthetic()
    first, second = SupportModel.fit(X, y), SupportModel.fit(X, y)
    assert first.coef == second.coef and first.intercept == second.intercept
    weights = first.weights()
    assert weights[FEATURES[0]] > weights[FEATURES[1]] > abs(weights[FEATURES[2]])
    assert ((first.probabilities(X) > 0.5) == y).mean() > 0.85


def test_model_round_trips_and_refuses_other_features():
    X, y = synthetic(1)
    model = SupportModel.fit(X, y)
    again = SupportModel.from_dict(model.to_dict())
    assert np.allclose(again.probabilities(X), model.probabilities(X))
    data = model.to_dict()
    data["measured"] = data["measured"][:-1]  # fitted by code that measured other features
    with pytest.raises(ValueError, match="rag calibrate"):
        SupportModel.from_dict(data)
    data = model.to_dict()
    data["features"] = [*data["features"], "no_such_feature"]
    with pytest.raises(ValueError, match="no_such_feature"):
        SupportModel.from_dict(data)


def test_a_model_reads_its_subset_of_the_features():
    X, y = synthetic(2)
    topic = SupportModel.fit(X, y, features=TOPIC_FEATURES)
    assert topic.features == TOPIC_FEATURES and len(topic.coef) == len(TOPIC_FEATURES)
    changed = X.copy()
    changed[:, [FEATURES.index(f) for f in FEATURES if f not in TOPIC_FEATURES]] += 5.0  # what it does not read
    assert np.allclose(topic.probabilities(X), topic.probabilities(changed))
    assert SupportModel.from_dict(topic.to_dict()) == topic


def test_refit_on_the_kept_feature_table_gives_the_shipped_models():
    shipped = load_calibration()
    refit = fit_calibration(load_examples(FEATURE_TABLE))
    assert shipped.one_law is not None and shipped.one_law.answers is not None
    for fitted, kept in ((refit.abstention, shipped.abstention), (refit.one_law.covered, shipped.one_law.covered), (refit.one_law.answers, shipped.one_law.answers)):
        assert np.allclose(fitted.coef, kept.coef, atol=1e-9)
        assert fitted.threshold == pytest.approx(kept.threshold)
        assert fitted.regularization == kept.regularization  # chosen out of fold, not set by hand
    assert refit.report["one_law"]["out_of_fold"] == shipped.report["one_law"]["out_of_fold"]


def test_the_library_model_reads_the_library_and_the_bundled_law_and_the_one_law_model_every_law_but_the_library():
    examples = load_examples(FEATURE_TABLE)
    calibration = fit_calibration(examples)
    assert "library" in calibration.report["library"]["counts"] and "conversation" not in calibration.report["library"]["counts"]
    assert "library" not in calibration.report["one_law"]["counts"] and "conversation" in calibration.report["one_law"]["counts"]
    assert calibration.report["one_law"]["laws"] >= 20  # the stance model is fitted on many laws, not one
    # the library model does not change with the other laws' questions
    alone = fit_calibration([e for e in examples if e.group == "library" or e.law == bundled_law()])
    assert alone.abstention == calibration.abstention and alone.one_law != calibration.one_law


def test_each_index_kind_gets_its_model(seed_index):
    shipped = load_calibration()
    assert shipped.model_for(seed_index) is shipped.one_law  # the bundled law alone

    class Library:  # model_for reads only how many laws an index holds
        laws = seed_index.laws * 2

    assert shipped.model_for(Library()) == StanceModel(shipped.abstention)  # answered or not_covered, never related
    assert Calibration(abstention=shipped.abstention).model_for(seed_index) == StanceModel(shipped.abstention)


def test_shipped_operating_point_meets_its_limits_leave_law_out():
    report = load_calibration().report
    rates, targets = report["one_law"]["out_of_fold"], report["one_law"]["targets"]
    assert rates["answerable"]["not_covered"] <= targets["answerable_not_covered"]
    assert rates["conversation"]["not_covered"] <= targets["conversation_not_covered"]
    assert rates["answerable"]["answered"] >= targets["answerable_answered"]
    library = report["library"]["out_of_fold_abstained"]
    assert library["answerable"] <= targets["answerable_not_covered"] and library["library"] <= targets["library_false_abstention"]


def test_the_stance_on_fixed_feature_vectors():
    covered = SupportModel(coef=[1.0 if f == "dense" else 0.0 for f in FEATURES], mean=[0.8 if f == "dense" else 0.0 for f in FEATURES], scale=[0.05 if f == "dense" else 1.0 for f in FEATURES], threshold=0.5)
    answers = SupportModel(coef=[1.0 if f == "words" else 0.0 for f in FEATURES], mean=[0.5 if f == "words" else 0.0 for f in FEATURES], scale=[0.25 if f == "words" else 1.0 for f in FEATURES], threshold=0.5)
    model = StanceModel(covered, answers)
    assert model.decide(Support(dense=0.70, words=1.0))[0] == Stance.NOT_COVERED  # far from the law: nothing else matters
    assert model.decide(Support(dense=0.90, words=0.0))[0] == Stance.RELATED  # on topic, the words asked for absent
    stance, confidence = model.decide(Support(dense=0.90, words=1.0))
    assert stance == Stance.ANSWERED and confidence == pytest.approx(answers.probability(Support(dense=0.90, words=1.0)))
    assert StanceModel(covered).decide(Support(dense=0.90, words=0.0))[0] == Stance.ANSWERED  # a library's model: no related


def test_the_shipped_models_on_fixed_feature_vectors():
    shipped = load_calibration()
    named = Support(lexical=1.0, dense=0.9, sentence=0.9, margin=0.05, bm25=0.8, lookup=1.0, terms=1.0, words=1.0, words_top3=1.0, focus=1.0)
    strong = Support(lexical=0.9, dense=0.9, sentence=0.91, margin=0.03, bm25=0.6, terms=1.8, words=1.0, words_top3=1.0, focus=1.0)
    nothing = Support(lexical=0.0, dense=0.72, sentence=0.73, margin=0.0, bm25=0.0, terms=2.5, words=0.0, unknown=1.0, focus=-1.0)
    for model in (shipped.one_law, StanceModel(shipped.abstention)):
        assert model.decide(named)[0] == Stance.ANSWERED and model.decide(strong)[0] == Stance.ANSWERED
        assert model.decide(nothing)[0] == Stance.NOT_COVERED


def test_a_calibration_written_before_stances_still_reads_as_answered_or_not_covered(tmp_path):
    shipped = load_calibration()
    data = shipped.to_dict()
    data["one_law"] = shipped.abstention.to_dict()  # the old format: one model
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert Calibration.load(path).one_law == StanceModel(shipped.abstention)


def test_calibration_file_round_trip(tmp_path):
    shipped = load_calibration()
    shipped.save(tmp_path / "c.json")
    again = Calibration.load(tmp_path / "c.json")
    assert again.abstention == shipped.abstention and again.whole_article_chars == shipped.whole_article_chars
    assert again.one_law == shipped.one_law and again.second_article == shipped.second_article


def test_deferral_clauses_are_recognised():
    assert defers("违反本条例规定的行为，法律、行政法规有处罚规定的，从其规定。")
    assert defers("具体办法按照国家有关规定执行。")
    assert not defers("本条例自2026年1月1日起施行。")


@pytest.mark.parametrize("question", ["违反这个条例会被罚款吗？罚多少钱？", "不遵守条例规定要承担什么法律责任？", "违反本条例的行为怎么处罚？"])
def test_a_penalty_question_is_answered_from_the_deferral_clause_without_an_amount(seed_index, question):
    result = answer(question)
    assert not result.abstained
    top = result.citations[0]
    assert defers(top.quote)
    assert deferral_note(top.law) in result.text
    # No number appears that the quoted articles do not state
    quoted = "".join(c.quote for c in result.citations)
    said = re.sub(r"\[\d+\]", "", result.text.replace(deferral_note(top.law), ""))
    assert all(number in quoted for number in re.findall(r"\d+", said))


def test_a_passing_deferral_in_a_quote_adds_no_note_when_another_sentence_answers(seed_index):
    # 第四十一条 ends 按照有关规定加强项目全过程管理 but its interconnection sentence answers this
    result = answer("公共机构的信息系统必须互联互通吗？")
    assert not result.abstained
    top = result.citations[0]
    assert defers(top.text) and not defers(top.highlight)
    assert deferral_note(top.law) not in result.text


@pytest.mark.parametrize(
    ("question", "article", "noted"),
    [
        # 第十五条's first sentence is 按照国家有关规定动态编制…, its second defers nothing: asked what the
        # article says, nothing asked is left to other laws
        ("第十五条讲了什么？", "第十五条", False),
        # 第四十九条 is a deferral through and through
        ("第四十九条讲了什么？", "第四十九条", True),
        ("第四十九条怎么罚？", "第四十九条", True),
    ],
)
def test_a_named_article_gets_the_deferral_note_only_where_what_answers_defers(seed_index, question, article, noted):
    result = answer(question)
    assert result.citations[0].article == article and defers(result.citations[0].text)
    assert (deferral_note(result.citations[0].law) in result.text) == noted


def test_a_bad_calibration_file_is_a_clear_error(tmp_path, monkeypatch):
    import rag.answering.abstention as abstention

    from rag.errors import RagError

    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    monkeypatch.setattr(abstention, "_calibrations", {})
    monkeypatch.setenv("RAG_CALIBRATION", str(tmp_path / "bad.json"))
    with pytest.raises(RagError, match="RAG_CALIBRATION"):
        abstention.load_calibration()


@pytest.mark.parametrize(
    "question, asks",
    [
        ("罚款是多少？", True),
        ("补偿怎么算？", True),
        ("赔偿金的标准是什么？", True),
        ("服务期一般最长能约定几年？", True),
        ("违法所得几倍的罚款？", True),
        ("数据处理有安全隐患，会直接罚款吗？", False),  # whether there is a fine, not how much
        ("想查国家标准原文，要收费吗？", False),
        ("公司拖欠工资怎么办？", False),
    ],
)
def test_a_quantity_is_asked_for_by_a_how_much_not_by_a_word_for_money(question, asks):
    from rag.answering.abstention import _ASKS_QUANTITY

    assert bool(_ASKS_QUANTITY.search(question)) == asks


@pytest.mark.parametrize(
    "question, article, states",
    [
        ("乱涂乱画会拘留几天？", "处五日以上十日以下拘留或者五百元以下罚款", True),
        ("乱涂乱画会拘留几天？", "处五百元以下罚款", False),  # an amount of money, not of days
        ("最多能罚多少钱？", "处五百元以下罚款", True),
        ("最多能罚多少钱？", "处货值金额十倍以上二十倍以下罚款", True),
        ("最多能罚多少钱？", "应当自收缴罚款之日起二日以内交至所属的公安机关", False),
        ("决定书多久之内要送到？", "应当在二日以内送达被处罚人", True),
        ("警察多少分钟之内必须赶到？", "应当在二十四小时以内通知其家属", False),
        ("需要多少人同意？", "经专有部分占建筑物总面积三分之二以上的业主同意", True),  # a how-much of no kind: any number
        ("办公电话是多少？", "省人民政府数据主管部门负责全省数据工作", False),
    ],
)
def test_an_article_states_an_amount_of_the_kind_asked_for(question, article, states):
    from rag.answering.abstention import states_quantity

    assert states_quantity(article, question) == states


@pytest.mark.parametrize(
    "question, focus",
    [
        ("数据交易要交多少手续费？", "手续费"),  # after the question word
        ("省数据主管部门现在的主要负责人是谁？", "负责人"),  # before it, across 是
        ("举报查实以后有奖金吗？", "奖金"),  # a yes/no question
        ("条例有没有规定罚款？", "罚款"),
        ("条例的立法目的", ""),  # no question word
        ("智慧医疗方面有没有规定？", "医疗"),  # 方面 only marks the topic
    ],
)
def test_focus_is_the_noun_the_question_asks_for(question, focus):
    from rag.answering.abstention import _focus

    assert _focus(question) == focus


def test_the_second_article_rule_is_the_best_mean_of_keyword_recall_and_citation_precision():
    from eval.calibrate import choose_second
    from rag.answering.abstention import SecondArticle

    rows = [
        {"support": 0.95, "score": 0.8, "keyword_recall": 0.80, "citation_precision": 0.80},
        {"support": 0.90, "score": 0.8, "keyword_recall": 0.90, "citation_precision": 0.75},
        {"support": 0.85, "score": 0.8, "keyword_recall": 0.90, "citation_precision": 0.75},  # as good, less strict
        {"support": 0.80, "score": 0.7, "keyword_recall": 0.95, "citation_precision": 0.50},
    ]
    assert choose_second(rows) == SecondArticle(0.90, 0.8)


def test_the_calibration_is_read_from_the_environment_else_the_index_directory_else_the_package(tmp_path, monkeypatch):
    import rag.answering.abstention as abstention

    monkeypatch.setattr(abstention, "_calibrations", {})
    monkeypatch.delenv("RAG_CALIBRATION", raising=False)
    shipped = load_calibration()
    own = tmp_path / "index"
    own.mkdir()
    assert abstention.calibration_path(own) == abstention.CALIBRATION_PATH  # the index has none of its own
    Calibration(abstention=replace(shipped.abstention, threshold=0.123), model="tuned-model").save(own / abstention.INDEX_CALIBRATION)
    assert abstention.calibration_path(own) == own / abstention.INDEX_CALIBRATION
    assert load_calibration(own).abstention.threshold == 0.123 and load_calibration(own).model == "tuned-model"
    assert load_calibration().abstention.threshold == shipped.abstention.threshold
    chosen = tmp_path / "chosen.json"
    Calibration(abstention=replace(shipped.abstention, threshold=0.456)).save(chosen)
    monkeypatch.setenv("RAG_CALIBRATION", str(chosen))
    assert load_calibration(own).abstention.threshold == 0.456


@pytest.fixture
def seed_copy(seed_index, tmp_path, monkeypatch):
    """A copy of the seed index in its own directory, whose calibration a test may set."""
    import shutil

    import rag.answering.abstention as abstention

    monkeypatch.setattr(abstention, "_calibrations", {})
    monkeypatch.delenv("RAG_CALIBRATION", raising=False)
    copy = tmp_path / "seed-copy"
    shutil.copytree(seed_index.path, copy)
    return copy


QUESTION = "条例对数据标注有什么规定？"


def test_an_index_is_answered_by_its_own_calibration(seed_copy):
    import rag.answering.abstention as abstention

    shipped = load_calibration()
    assert not answer(QUESTION, index=seed_copy).abstained
    strict = Calibration(abstention=shipped.abstention, one_law=StanceModel(replace(shipped.one_law.covered, threshold=1.01)))
    strict.save(seed_copy / abstention.INDEX_CALIBRATION)
    reply = answer(QUESTION, index=seed_copy)
    assert reply.abstained and reply.warnings == []  # fitted on the model this index encodes with
    assert not answer(QUESTION).abstained  # the default index still reads the shipped calibration


def test_a_calibration_fitted_for_another_model_warns(seed_copy):
    import rag.answering.abstention as abstention

    shipped = load_calibration()
    replace(shipped, model="another-model").save(seed_copy / abstention.INDEX_CALIBRATION)
    reply = answer(QUESTION, index=seed_copy)
    assert any("--for-index" in warning and "another-model" in warning for warning in reply.warnings)
    assert not [w for w in answer(QUESTION).warnings if "--for-index" in w]


def test_calibrating_for_an_index_writes_into_it_with_its_model(seed_copy):
    from argparse import Namespace

    import rag.answering.abstention as abstention

    from embeddings.model import DEFAULT_MODEL
    from eval.calibrate import INDEX_FEATURE_TABLE, _targets_of
    from eval.questions import EvalError

    options = dict(for_index=True, out=None, features=None)
    with pytest.raises(EvalError, match="--library-index"):
        _targets_of(Namespace(library_index=None, **options))
    out, features, model = _targets_of(Namespace(library_index=str(seed_copy), **options))
    assert (out, features, model) == (seed_copy / abstention.INDEX_CALIBRATION, seed_copy / INDEX_FEATURE_TABLE, DEFAULT_MODEL)
    shipped = _targets_of(Namespace(library_index=str(seed_copy), for_index=False, out=None, features=None))
    assert shipped[0] == abstention.CALIBRATION_PATH and shipped[2] == DEFAULT_MODEL


def test_an_index_of_another_model_reads_the_calibration_shipped_for_that_model(tmp_path, monkeypatch):
    import rag.answering.abstention as abstention

    assert abstention.shipped_calibration(abstention.DEFAULT_MODEL) == abstention.CALIBRATION_PATH
    shipped = tmp_path / "shipped"
    monkeypatch.setattr(abstention, "CALIBRATIONS", shipped)
    index = tmp_path / "index"
    (index / "v-1").mkdir(parents=True)
    (index / "CURRENT").write_text("v-1")
    (index / "v-1" / "manifest.json").write_text(json.dumps({"model": {"name": "some/other-model"}}))
    assert abstention.calibration_path(index) == abstention.CALIBRATION_PATH  # none shipped for it: the default's
    shipped.mkdir()
    (shipped / "some_other-model.json").write_text("{}")
    assert abstention.calibration_path(index) == shipped / "some_other-model.json"
    (index / abstention.INDEX_CALIBRATION).write_text("{}")
    assert abstention.calibration_path(index) == index / abstention.INDEX_CALIBRATION  # its own comes first
