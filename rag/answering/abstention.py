"""How well the retrieved articles answer the question: support features → fitted logistic models → a Stance.

The features describe how well the top article supports an answer (lexical coverage by character
bigrams and by words, dense score and margin, BM25, lookup, question language, answer-type cues, deferral clauses,
region and law scope). Two SupportModels decide a question's stance on an index of one law (StanceModel): whether
the law concerns it at all (not_covered below the first's threshold) and whether the quoted articles answer it
(related below the second's); a library's index has one model, answered or not_covered. `rag calibrate`
(eval/calibrate.py) fits them on many laws, each threshold chosen leave-law-out; their parameters and
operating points live in rag/answering/calibration.json, fitted on the default embedding model's scores. An
index built with another model gets its own calibration, kept in the index directory (`rag calibrate --for-index`)."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Sequence

import numpy as np

from embeddings.model import DEFAULT_MODEL

from ..errors import RagError
from ..index import TOPIC_MARKERS, Index, content_terms, content_words, recorded_model, write_atomic
from ..records import Hit, Stance

__all__ = [
    "Support",
    "FEATURES",
    "TOPIC_FEATURES",
    "SupportModel",
    "StanceModel",
    "measure_support",
    "term_weights",
    "coverage",
    "defers",
    "CALIBRATION_PATH",
    "INDEX_CALIBRATION",
    "calibration_path",
    "shipped_calibration",
    "load_calibration",
    "Calibration",
    "SecondArticle",
]

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")  # for the default embedding model
CALIBRATIONS = Path(__file__).with_name("calibrations")  # for other models, one file each
INDEX_CALIBRATION = "calibration.json"  # an index's own calibration, in the index directory

# Expected-answer-type cue: the question wants an amount, a time, a duration or contact details
# (什么时候 is no cue, nor is its English "when": when a law takes effect or was passed is in it). A word
# for money is a cue only with a how-much (罚款的标准, 补偿怎么算): 会直接罚款吗？ asks whether, not how much
_MONEY_RULE = r"(?:金额|费用|收费|价格|电价|工资|罚款|赔偿金?|补偿金?)的?(?:标准|怎么算|怎么计算|如何计算|怎么定|如何确定)"
_ASKS_QUANTITY = re.compile(
    r"多少|几(?:点|月|号|天|年|个?小时|折|倍|分钱|成|岁)|多久|多长时间|多大|多高|网址|电话|地址|"
    rf"{_MONEY_RULE}|how (?:much|many|long)|what time",
    re.IGNORECASE,
)
_QUANTITY = re.compile(r"\d|[零一二三四五六七八九十百千万两]+(?:元|年|个月|月|日|天|小时|倍|人|项|次|％|%|分之)")
_NUMBER = r"(?:\d+|[零一二三四五六七八九十百千万两半]+)个?"


def _counted(*units: str) -> str:
    return _NUMBER + "(?:" + "|".join(units) + ")"


# What an asked amount is counted in: a question asking how many days is answered by an article that
# counts days, not by any number in it (its fine in 元 says nothing on how long a detention lasts).
# (the cue, what states it); the first cue that matches decides; a how-much of no kind here (需要多少人同意)
# takes any number (_QUANTITY).
_ASKED_AMOUNTS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (re.compile(cue, re.IGNORECASE), re.compile(stated))
    for cue, stated in (
        (r"几分钟|多少分钟", _counted("分钟")),
        (r"几个?小时|多少个?小时", _counted("小时")),
        (r"几天|几日|多少天|多少日|几个工作日|多少个?工作日", _counted("日", "天")),
        (r"几个月|多少个月", _counted("月")),
        (r"几年|多少年", _counted("年")),
        (r"几岁|多大年龄|多少岁", _counted("岁")),
        (r"多久|多长时间|多长期限|how long", _counted("分钟", "小时", "日", "天", "月", "年")),
        (r"几倍|多少倍", _counted("倍")),
        (r"几折|几成|比例", _counted("成", "％", "%", "分之")),
        (r"网址|电话|地址", r"\d{5,}|www\.|https?://"),
        (
            rf"多少钱|罚多少|赔多少|赔偿多少|补偿多少|多少罚款|罚款多少|多少元|多少费用|费用多少|多少工资|几分钱|how much|{_MONEY_RULE}",
            _counted("元", "倍", "分之", "％", "%"),
        ),
    )
)
# An article that leaves the specific rule (penalty, amount, procedure) to other laws
_DEFERRAL = re.compile(
    r"从其规定|依照有关法律|依照有关规定|按照国家有关规定|依照国家有关规定|按照有关规定|依照.{1,20}的规定(?:执行|处理|处罚|给予处罚)"
)
_PROVINCES = (
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 "
    "四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门"
).split()
_TITLE = re.compile(r"《([^》]{2,40})》")


def defers(text: str) -> bool:
    """Whether an article defers its specific rule to other laws (法律、行政法规有处罚规定的，从其规定)."""
    return bool(_DEFERRAL.search(text))


@dataclass(frozen=True)
class Support:
    """How well the top articles support an answer; SupportModel reads these as its features."""

    lexical: float = 0.0  # idf-weighted share of the question's content terms found in the top article
    dense: float = 0.0  # dense cosine of the top article
    sentence: float = 0.0  # dense cosine of its best sentence (of the article itself when it has one sentence)
    margin: float = 0.0  # dense cosine of the top article minus that of the second
    bm25: float = 0.0  # BM25 score of the top article over the largest score the question's terms could reach
    lookup: float = 0.0  # the question named the article, asked for it by what it is (立法目的), or asked what a term it defines means
    document: float = 0.0  # the top hit is the law's own record (author, dates, revisions)
    english: float = 0.0  # the question has no Chinese content terms (lexical features then say nothing)
    terms: float = 0.0  # log(1 + number of content terms of the question)
    asks_quantity: float = 0.0  # the question wants an amount, a time, a duration or contact details (not left by the top article to other laws)
    quantity_unmet: float = 0.0  # …and the top article states no number and defers to no other law
    deferral: float = 0.0  # the top article defers its specific rule to other laws
    other_region: float = 0.0  # the question names a province that the top (local) law does not cover
    words: float = 0.0  # share of the question's content words (jieba) found in the top article
    words_top3: float = 0.0  # …found in at least one of the top three articles
    unknown: float = 0.0  # share of the question's content words that no text of the index contains
    focus: float = 0.0  # the noun a question word asks about (多少手续费, 负责人是谁) is in the top article: 1, not: -1, none: 0
    other_law: float = 0.0  # the question names a 《law》 the index does not hold
    named_law: float = 0.0  # the question names a law of the index and the top article is from it
    followup: float = 0.0  # the question was asked after earlier turns of a conversation (and rewritten from them)

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in FEATURES], dtype=np.float64)


FEATURES: tuple[str, ...] = tuple(f.name for f in fields(Support))
# What the question asks for (an amount, the noun a question word points at) and whether the article defers it:
# evidence on whether the quoted articles answer, none on whether the law concerns the question at all
ANSWER_TYPE = ("asks_quantity", "quantity_unmet", "focus", "deferral")
TOPIC_FEATURES = tuple(f for f in FEATURES if f not in ANSWER_TYPE)


def term_weights(index: Index, question: str) -> dict[str, float]:
    """The question's content terms with their idf in the index; a term no law contains weighs as the rarest."""
    terms = content_terms(question)
    idf = {t: index.lexical.idf(t) for t in terms}
    unseen = max(idf.values(), default=1.0) or 1.0
    return {t: (w if w > 0 else unseen) for t, w in idf.items()}


def coverage(weights: dict[str, float], text: str) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in text) / total if total else 0.0


def _other_region(question: str, law_title: str) -> bool:
    home = next((p for p in _PROVINCES if law_title.startswith(p)), None)
    return home is not None and any(p != home and p in question for p in _PROVINCES)


def _other_law(index: Index, question: str) -> bool:
    return any(not index.names.doc_ids(title) for title in _TITLE.findall(question))


# Question words: the noun next to one is what the question asks for (多少手续费, 负责人是谁, 有奖金吗)
_ASKING = frozenset(
    "多少 几 哪些 哪个 哪家 哪种 哪类 哪级 哪里 哪儿 什么 谁 多长时间 多久 何种 时候 时间 "
    "有没有 要不要 能不能 是不是 可不可以 会不会 是否 吗".split()
)
# Words between a question word and the noun it asks about: 是谁, 有什么, 要交多少
# and words any question about a statute has (有没有规定罚款: the focus is 罚款)
_BETWEEN = frozenset("是 的 了 要 有 会 能 可以 需要 应该 必须 都 也 还 就 在 给 由 被 对 和 与 及 呢 交 拿 算 规定 条例 法规 法律 本法".split())
_NOUN_TAGS = ("vn", "an", "l", "j")
_NEVER_FOCUS = _ASKING | _BETWEEN | frozenset(TOPIC_MARKERS)  # 方面 only marks the topic: 智慧医疗方面有什么要求
_FOCUS_WINDOW = 3  # words looked at after, then before, the question word


def _focus(question: str) -> str:
    """The noun nearest to the first question word, after it, else before it: 手续费 in 要交多少手续费，
    负责人 in 主要负责人是谁, 奖金 in 有奖金吗; '' when there is none."""
    import jieba.posseg

    words = [(w.word, w.flag) for w in jieba.posseg.lcut(question)]
    for i, (word, _) in enumerate(words):
        if word in _ASKING or (word.startswith("几") and len(word) <= 3):
            after = range(i + 1, min(len(words), i + 1 + _FOCUS_WINDOW))
            before = range(i - 1, max(-1, i - 1 - _FOCUS_WINDOW), -1)
            for j in (*after, *before):
                near, flag = words[j]
                if len(near) >= 2 and near not in _NEVER_FOCUS and (flag.startswith("n") or flag in _NOUN_TAGS):
                    return near
            return ""
    return ""


def _about_law(index: Index, question: str, top: Hit) -> bool:
    """Whether the question names the top hit's law, or in a one-law index refers to 条例, 本法, 这部法规…"""
    from ..retrieval import CUES

    if top.doc_id in index.names.doc_ids(question):
        return True
    return len(index.laws) == 1 and any(word in question for word in (*CUES.law_refs, "条例", "法规"))


def _in_index(index: Index, word: str) -> bool:
    return any(word in index.chunks[row].text for row in index.lexical.documents_with(word))


def states_quantity(text: str, question: str) -> bool:
    """Whether the text states an amount of the kind the question asks for (days for 拘留几天, money
    for 罚多少钱; any number for a how-much of no known kind)."""
    stated = next((stated for cue, stated in _ASKED_AMOUNTS if cue.search(question)), _QUANTITY)
    return bool(stated.search(text))


def measure_support(
    index: Index, question: str, hits: Sequence[Hit], weights: dict[str, float] | None = None, *, followup: bool = False
) -> Support:
    """The support features of the top hits (best first), from retrieval's scores and the texts;
    `weights`: the term_weights() of index.names.as_self_reference(question) when the caller has them already. What the
    question asks about is read from that text: the words of a law's name are not content an article
    must hold (the name scopes the search and is read by the law features)."""
    if not hits:
        return Support(other_law=float(_other_law(index, question)), followup=float(followup))
    asked = index.names.as_self_reference(question)
    weights = term_weights(index, asked) if weights is None else weights
    top = hits[0]
    dense = [h.scores.get("dense", 0.0) for h in hits[:2]]
    known_idf = sum(index.lexical.idf(t) for t in index.lexical.known(list(weights)))
    deferral = defers(top.text)
    asks_quantity = bool(_ASKS_QUANTITY.search(asked))
    named = index.names.doc_ids(question) if len(index.laws) > 1 else set()
    words = content_words(asked)
    share = (lambda found: sum(found) / len(words)) if words else (lambda found: 0.0)
    focus = _focus(asked)
    # An article deferring to other laws leaves what is asked (罚款, 数额, 程序) to them: when the question
    # is about that article's own law, neither the asked-for word's absence nor the missing amount is
    # evidence against answering (a deferral clause is an answer: it says where the rule is)
    defers_own = deferral and _about_law(index, question, top)
    return Support(
        lexical=coverage(weights, top.text + " ".join(top.chunk.path)),
        dense=dense[0],
        sentence=top.scores.get("sentence", dense[0]),
        margin=dense[0] - dense[1] if len(dense) > 1 else dense[0],
        bm25=top.scores.get("bm25", 0.0) / (2.2 * known_idf) if known_idf else 0.0,
        lookup=float("lookup" in top.scores or "definition" in top.scores),
        document=float(top.chunk.is_document),
        english=float(not any(not t.isascii() for t in weights)),
        terms=math.log1p(len(weights)),
        asks_quantity=float(asks_quantity and not defers_own),
        quantity_unmet=float(asks_quantity and not deferral and not states_quantity(top.text, asked)),
        deferral=float(deferral),
        other_region=float(_other_region(question, top.law)),
        words=share([w in top.text for w in words]),
        words_top3=share([any(w in h.text for h in hits[:3]) for w in words]),
        unknown=share([not _in_index(index, w) for w in words]),
        focus=0.0 if not focus or defers_own else 1.0 if focus in top.text else -1.0,
        other_law=float(_other_law(index, question)),
        named_law=float(top.doc_id in named),
        followup=float(followup),
    )


@dataclass
class SupportModel:
    """Logistic regression on standardised support features (and products of pairs of them, where
    `interactions` names any): the probability of one yes/no question about the hits (does the index
    concern the question? do the quoted articles answer it?), and the `threshold` below which the answer is
    no (the operating point chosen by `rag calibrate`). It reads `features`, FEATURES or a subset of them (whether
    the index concerns a question is no matter of what the question asks for: the covered model leaves the
    answer-type features out). An interaction such as ("english", "dense") lets the dense score weigh
    differently for English questions, whose lexical features say nothing."""

    features: tuple[str, ...] = FEATURES
    interactions: tuple[tuple[str, str], ...] = ()
    mean: list[float] = field(default_factory=lambda: [0.0] * len(FEATURES))
    scale: list[float] = field(default_factory=lambda: [1.0] * len(FEATURES))
    coef: list[float] = field(default_factory=lambda: [0.0] * len(FEATURES))
    intercept: float = 0.0
    threshold: float = 0.5
    regularization: float = 1.0  # sklearn's C

    @staticmethod
    def design(X: np.ndarray, interactions: Sequence[tuple[str, str]] = (), features: Sequence[str] = FEATURES) -> np.ndarray:
        """The `features` columns of feature rows (columns in FEATURES order), with a column per interaction appended."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        products = [X[:, FEATURES.index(a)] * X[:, FEATURES.index(b)] for a, b in interactions]
        chosen = X if tuple(features) == FEATURES else X[:, [FEATURES.index(f) for f in features]]
        return np.column_stack([chosen, *products]) if products else chosen

    @classmethod
    def fit(
        cls,
        X: np.ndarray,
        y: np.ndarray,
        *,
        sample_weight: np.ndarray | None = None,
        regularization: float = 1.0,
        interactions: Sequence[tuple[str, str]] = (),
        features: Sequence[str] = FEATURES,
    ) -> SupportModel:
        """Fit on feature rows X (columns in FEATURES order; the model reads `features` of them) and labels y
        (1 = yes); deterministic."""
        from sklearn.linear_model import LogisticRegression

        X = cls.design(X, interactions, features)
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale == 0] = 1.0
        model = LogisticRegression(C=regularization, solver="lbfgs", max_iter=1000)
        model.fit((X - mean) / scale, np.asarray(y, dtype=int), sample_weight=sample_weight)
        return cls(
            features=tuple(features),
            interactions=tuple(tuple(pair) for pair in interactions),
            mean=mean.tolist(),
            scale=scale.tolist(),
            coef=model.coef_[0].tolist(),
            intercept=float(model.intercept_[0]),
            regularization=regularization,
        )

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """P(answerable) for each row of X (columns in FEATURES order)."""
        z = (self.design(X, self.interactions, self.features) - self.mean) / self.scale @ np.array(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def probability(self, support: Support) -> float:
        return float(self.probabilities(support.vector())[0])

    def abstains(self, support: Support) -> bool:
        return self.probability(support) < self.threshold

    def weights(self) -> dict[str, float]:
        """Each feature's (and interaction's, as a×b) coefficient on the standardised scale: its pull towards yes."""
        return dict(zip([*self.features, *(f"{a}×{b}" for a, b in self.interactions)], self.coef))

    def to_dict(self) -> dict:
        # `measured`: what the code measured when it was fitted, so a file from other code is refused
        return {**asdict(self), "features": list(self.features), "interactions": [list(pair) for pair in self.interactions], "measured": list(FEATURES)}

    @classmethod
    def from_dict(cls, data: dict) -> SupportModel:
        """The model of to_dict(); ValueError when it was fitted on other features than this code measures."""
        interactions = tuple(tuple(pair) for pair in data.get("interactions", ()))
        measured = tuple(data.pop("measured", data["features"]))  # files before feature subsets read all of them
        model = cls(**{**data, "features": tuple(data["features"]), "interactions": interactions})
        unknown = sorted(({name for pair in interactions for name in pair} | set(model.features)) - set(FEATURES))
        if measured != FEATURES or unknown:
            missing = sorted(set(FEATURES) ^ set(measured)) + unknown
            raise ValueError(f"拒答模型的特征与代码不符（{', '.join(missing)}）；请重新运行 rag calibrate")
        return model


@dataclass(frozen=True)
class SecondArticle:
    """When the reader quotes a lower-ranked article beside the first (no article was named): its support
    (best sentence's coverage plus dense cosine) is at least `support` × the first's and its retrieval
    score at least `score` × the first's. Chosen by `rag calibrate` on seed_dev."""

    support: float = 0.95
    score: float = 0.8


@dataclass
class StanceModel:
    """A question's stance from its support: `covered` says whether the index concerns the question at all
    (below its threshold: not_covered), `answers` whether the quoted articles answer it (below its threshold:
    related). Without `answers` (a library's model) a covered question is answered."""

    covered: SupportModel
    answers: SupportModel | None = None

    def decide(self, support: Support) -> tuple[Stance, float]:
        """The stance and its confidence: P(answers) when the question is covered, else P(covered)."""
        covered = self.covered.probability(support)
        if covered < self.covered.threshold:
            return Stance.NOT_COVERED, covered
        if self.answers is None:
            return Stance.ANSWERED, covered
        answers = self.answers.probability(support)
        return (Stance.ANSWERED if answers >= self.answers.threshold else Stance.RELATED), answers

    def to_dict(self) -> dict:
        return {"covered": self.covered.to_dict(), "answers": self.answers.to_dict() if self.answers else None}

    @classmethod
    def from_dict(cls, data: dict) -> StanceModel:
        if "covered" not in data:  # a calibration written before stances: one model, answered or not_covered
            return cls(SupportModel.from_dict(data))
        answers = SupportModel.from_dict(data["answers"]) if data.get("answers") else None
        return cls(SupportModel.from_dict(data["covered"]), answers)


@dataclass
class Calibration:
    """What `rag calibrate` fits: the stance models and the quoting rules, with how they were measured.

    An index of one law and a library differ in what the support features mean (a library's top two
    articles are close, one law's are not), so each gets its own model: `one_law` (three stances) is fitted
    on questions asked of many laws each indexed alone, `abstention` (answered or not_covered) on a library's
    questions and those asked of the bundled law."""

    abstention: SupportModel = field(default_factory=SupportModel)  # for an index of several laws
    one_law: StanceModel | None = None  # for an index of one law; None: `abstention` serves both
    whole_article_chars: int = 200  # articles up to this long are quoted whole
    second_article: SecondArticle = field(default_factory=SecondArticle)
    report: dict = field(default_factory=dict)  # data, metrics and curves behind the choices (one_law's under "one_law")
    model: str = DEFAULT_MODEL  # the embedding model (name or folder) whose scores the models were fitted on

    def model_for(self, index: Index) -> StanceModel:
        """The stance model for questions asked of `index`."""
        if self.one_law is not None and len(index.laws) == 1:
            return self.one_law
        return StanceModel(self.abstention)

    def mismatch(self, index: Index) -> str | None:
        """A warning when `index` encodes with another embedding model than this calibration was fitted on
        (its dense scores mean something else there: a fine-tuned model's index abstains on most questions)."""
        if index.embedder.spec.name == self.model:
            return None
        return (
            f"这个索引的嵌入模型（{index.embedder.spec.name}）没有自己的拒答校准，拒答判断按 {self.model} 拟合，可能几乎全部拒答；"
            f"请运行 rag calibrate --library-index {index.path} --for-index"
        )

    def to_dict(self) -> dict:
        one_law = self.one_law.to_dict() if self.one_law is not None else None
        return {
            "abstention": self.abstention.to_dict(),
            "one_law": one_law,
            "whole_article_chars": self.whole_article_chars,
            "second_article": asdict(self.second_article),
            "report": self.report,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        one_law = StanceModel.from_dict(data["one_law"]) if data.get("one_law") else None
        return cls(
            abstention=SupportModel.from_dict(data["abstention"]),
            one_law=one_law,
            whole_article_chars=int(data["whole_article_chars"]),
            second_article=SecondArticle(**data.get("second_article", {})),
            report=dict(data.get("report", {})),
            model=str(data.get("model", DEFAULT_MODEL)),
        )

    def save(self, path: Path) -> None:
        write_atomic(Path(path), (json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n").encode("utf-8"))

    @classmethod
    def load(cls, path: Path) -> Calibration:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


_calibrations: dict[Path, Calibration] = {}


def shipped_calibration(model: str) -> Path:
    """The calibration shipped for an embedding model: CALIBRATION_PATH for the default one, else the file named
    after the model in calibrations/ (rag calibrate --model writes it)."""
    if model == DEFAULT_MODEL:
        return CALIBRATION_PATH
    return CALIBRATIONS / (re.sub(r"[^\w.-]+", "_", model) + ".json")


def calibration_path(index_dir: str | Path | None = None) -> Path:
    """Where the calibration for questions asked of the index in `index_dir` is: $RAG_CALIBRATION, else the
    index's own (written by rag calibrate --for-index), else the one shipped for the model the index was built
    with, else the one shipped for the default model (answer() then warns of the mismatch)."""
    if os.environ.get("RAG_CALIBRATION"):
        return Path(os.environ["RAG_CALIBRATION"])
    if index_dir is None:
        return CALIBRATION_PATH
    own = Path(index_dir) / INDEX_CALIBRATION
    if own.is_file():
        return own
    model = recorded_model(index_dir)
    shipped = shipped_calibration(model) if model else CALIBRATION_PATH
    return shipped if shipped.is_file() else CALIBRATION_PATH


def load_calibration(index_dir: str | Path | None = None) -> Calibration:
    """The calibration at calibration_path(index_dir); each file read once."""
    path = calibration_path(index_dir)
    if path not in _calibrations:
        try:
            _calibrations[path] = Calibration.load(path)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise RagError(f"无法读取拒答校准文件 {path}（{error}）。请检查 RAG_CALIBRATION，或重新运行 rag calibrate") from error
    return _calibrations[path]
