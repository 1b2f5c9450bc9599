"""Lexical side of retrieval: tokenize (character bigrams or jieba words) → BM25 scores (bm25s)."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Literal, Sequence

import bm25s
import numpy as np

from . import jieba_trie

__all__ = ["Tokenizer", "TOPIC_MARKERS", "tokenize", "content_terms", "content_words", "strip_filler", "LexicalIndex", "load_jieba_in_background"]

Tokenizer = Literal["bigram", "jieba"]

_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[a-z0-9]+")
# Words after a subject that only mark it as the topic (智慧医疗方面有什么要求？, 数据标注这块呢？):
# they say nothing of what is asked, and statutes do not use them so
TOPIC_MARKERS = ("这一方面", "这方面", "方面", "这一块", "这块")
# What makes a clause of a question ask something (数据中心的供电怎么保障，电价能不能降下来？ asks twice; …，这合法吗)
ASKING = re.compile(r"吗|呢|什么|怎么|怎样|如何|哪|多少|几|是否|能不能|可不可以|会不会|要不要|能否|有没有|是不是|合法|行不行")
# Filler that questions carry and statutes do not; kept out of query terms so they neither
# count as support for an answer nor as missing support.
_QUESTION_FILLER = re.compile(
    "|".join(TOPIC_MARKERS) + "|"
    r"什么时候|何时|什么|怎么|怎样|如何|哪些|哪个|哪里|哪儿|是否|是不是|有没有|能不能|可不可以|会不会|要不要|需不需要|"
    r"请问|一下|吗|呢|吧|啊|我们|我|你|他们|这个|那个|这部|本条例|条例|规定|法规|有关|关于|相关|具体|"
    r"哪|谁|多少|几|为什么|可以|应该|需要|的|了|和|与|或|及|在|是|有|对|要|能|会|都|也|就"
)


_jieba_loader: threading.Thread | None = None


def load_jieba_in_background() -> None:
    """Load jieba's dictionary (mapped from its trie, see jieba_trie) and part-of-speech model (the answer
    layer's words) in a thread, so that it overlaps with loading the index and the encoder instead of
    delaying the first question. jieba's own lock makes a question that comes first wait for it."""
    global _jieba_loader
    if _jieba_loader is None:

        def load() -> None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            try:
                jieba_trie.install()
            except (OSError, ValueError) as error:  # no writable cache: jieba's own loading, 2 s slower
                warnings.warn(f"jieba 词典索引不可用，改用 jieba 自带的加载：{error}", RuntimeWarning, stacklevel=1)
            import jieba.posseg  # noqa: F401  (its tables load at import)

            jieba.initialize()

        _jieba_loader = threading.Thread(target=load, name="jieba-loader", daemon=True)
        _jieba_loader.start()


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def tokenize(text: str, mode: Tokenizer = "bigram") -> list[str]:
    """Character bigrams of each CJK run (a lone character stays a unigram) plus ASCII words; or jieba words."""
    text = _normalize(text)
    if mode == "jieba":
        import jieba

        return [w for w in jieba.lcut_for_search(text) if _CJK_RUN.fullmatch(w)]
    tokens: list[str] = []
    for run in _CJK_RUN.findall(text):
        if run.isascii() or len(run) == 1:
            tokens.append(run)
        else:
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    return tokens


# jieba part-of-speech tags of the words whose characters are never filler (人工智能, 社会, 会议, 目的):
# nouns, verbal and adjectival nouns, abbreviations, places; not idioms (怎么办, 由谁来 are 'l')
_NOMINAL_FLAGS = ("n", "vn", "an", "j", "s")


@lru_cache(maxsize=8192)
def strip_filler(question: str) -> str:
    """The question with its filler (什么, 是否, 能, 会…) blanked out, except inside a noun-like word:
    the 能 of 人工智能 and the 会 of 社会 are content."""
    import jieba.posseg

    text = _normalize(question)
    words: list[tuple[int, int]] = []
    position = 0
    for word in jieba.posseg.lcut(text, HMM=False):  # dictionary words only: 17× faster, and no made-up 人能
        start, position = position, position + len(word.word)
        if len(word.word) >= 2 and (word.flag in _NOMINAL_FLAGS or word.flag.startswith("n")):
            words.append((start, position))

    def blank(match: re.Match) -> str:
        inside = any(s <= match.start() and match.end() <= e and (s, e) != match.span() for s, e in words)
        return match.group() if inside else " "

    return _QUESTION_FILLER.sub(blank, text)


def content_words(question: str) -> list[str]:
    """The words (jieba, two characters or more) of a question that carry its content, deduplicated in order."""
    import jieba

    return list(dict.fromkeys(w for w in jieba.lcut(strip_filler(question)) if len(w) >= 2 and _CJK_RUN.fullmatch(w) and not w.isascii()))


def content_terms(question: str, mode: Tokenizer = "bigram") -> list[str]:
    """The tokens of a question that carry its content (question filler removed), deduplicated in order."""
    return list(dict.fromkeys(tokenize(strip_filler(question), mode)))


class LexicalIndex:
    """BM25 over a fixed list of texts; scores() gives one score per text."""

    def __init__(self, texts: Sequence[str], *, tokenizer: Tokenizer = "bigram", k1: float = 1.2, b: float = 0.75):
        self.tokenizer: Tokenizer = tokenizer
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        self._bm25.index([tokenize(t, tokenizer) or [""] for t in texts], show_progress=False)
        self.size = len(texts)

    def save(self, folder: Path) -> list[Path]:
        """Write the BM25 matrix and vocabulary (bm25s' own format); returns the files written."""
        self._bm25.save(str(folder))
        return sorted(p for p in folder.iterdir() if p.is_file())

    @classmethod
    def load(cls, folder: Path, *, tokenizer: Tokenizer, size: int) -> LexicalIndex:
        """What save() wrote, for `size` texts tokenized with `tokenizer` (tokenizing a library takes seconds)."""
        index = cls.__new__(cls)
        index.tokenizer = tokenizer
        index._bm25 = bm25s.BM25.load(str(folder))
        index.size = size
        if index._bm25.scores["num_docs"] != size:
            raise ValueError(f"BM25 索引有 {index._bm25.scores['num_docs']} 段文本，索引有 {size} 段")
        return index

    def known(self, tokens: Sequence[str]) -> list[str]:
        vocab = self._bm25.vocab_dict
        return [t for t in tokens if t in vocab]

    def idf(self, token: str) -> float:
        """BM25's idf of a token; 0 for tokens the corpus lacks."""
        token_id = self._bm25.vocab_dict.get(token)
        if token_id is None:
            return 0.0
        indptr = self._bm25.scores["indptr"]
        doc_freq = int(indptr[token_id + 1] - indptr[token_id])
        return float(np.log(1 + (self.size - doc_freq + 0.5) / (doc_freq + 0.5)))

    def documents_with(self, phrase: str) -> np.ndarray:
        """Ids of the texts holding every token of `phrase` (a superset of those containing the phrase)."""
        tokens = tokenize(phrase, self.tokenizer)
        vocab = self._bm25.vocab_dict
        if not tokens or any(t not in vocab for t in tokens):
            return np.zeros(0, dtype=np.int64)
        indptr, indices = self._bm25.scores["indptr"], self._bm25.scores["indices"]
        found = None
        for token in dict.fromkeys(tokens):
            postings = indices[indptr[vocab[token]] : indptr[vocab[token] + 1]]
            found = postings if found is None else np.intersect1d(found, postings, assume_unique=True)
        return np.asarray(found, dtype=np.int64)

    def query_tokens(self, query: str) -> list[str]:
        """The query's tokens that BM25 scores: its content terms the corpus has. Question filler
        (什么, 是否, 条例…) is dropped: it matched short articles that merely say 本条例."""
        return self.known(content_terms(query, self.tokenizer))

    def scores(self, query: str, weight_mask: np.ndarray | None = None) -> np.ndarray:
        return self.token_scores(self.query_tokens(query), weight_mask)

    def token_ids(self, tokens: Sequence[str]) -> list[int]:
        vocab = self._bm25.vocab_dict
        return [vocab[t] for t in dict.fromkeys(tokens) if t in vocab]

    @property
    def vocabulary_size(self) -> int:
        return len(self._bm25.vocab_dict)

    def document_weights(self):
        """Texts × token ids (scipy CSR): each text's BM25 weight per token, idf included, so that a
        text's score for a query is the sum of its weights for the query's tokens."""
        from scipy.sparse import csc_matrix

        scores = self._bm25.scores
        matrix = csc_matrix((scores["data"], scores["indices"], scores["indptr"]), shape=(self.size, len(scores["indptr"]) - 1))
        return matrix.tocsr()

    def token_scores(self, tokens: Sequence[str], weight_mask: np.ndarray | None = None) -> np.ndarray:
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return self._bm25.get_scores(list(tokens), weight_mask=weight_mask).astype(np.float32)
