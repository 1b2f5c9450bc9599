"""The public entry points: answer() and retrieve() over the default or a chosen index."""

from __future__ import annotations

import os
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, Sequence

from embeddings.home import cache_dir
from embeddings.model import DEFAULT_MODEL, ModelSpec
from embeddings.registry import default_spec

from .answering import LLM, generate_answer, model_articles, read, stream_answer
from .errors import IndexUnavailable, InvalidQuestion
from .index import Index, build_index, open_index
from .records import Answer, Hit
from .retrieval import Mode, RetrieveOptions, rewrite_question, search

__all__ = ["answer", "answer_stream", "retrieve", "article", "ArticleView", "get_index", "default_index_path", "DATA_DIR", "MAX_QUESTION_CHARS", "MAX_HISTORY_TURNS", "clean_question"]

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "laws"
MAX_QUESTION_CHARS = 2000
_MAX_RAW_CHARS = 10 * MAX_QUESTION_CHARS  # longer input is refused before it is cleaned (cleaning costs O(n))
MAX_HISTORY_TURNS = 10  # earlier turns of a conversation that rewriting a follow-up may read

_indexes: dict[tuple[str, str], tuple[str, Index]] = {}  # (path, model) → (its live version when loaded, the Index)
_loading: dict[tuple[str, str], threading.Lock] = {}  # held while a version of that index is being loaded
_lock = threading.Lock()


def default_index_path(model: str = DEFAULT_MODEL) -> Path:
    folder = "default" if model == DEFAULT_MODEL else "default-" + "".join(c if c.isalnum() else "_" for c in model)
    return cache_dir() / "indexes" / folder


def _live_version(path: Path) -> str:
    """The name in the index directory's CURRENT file ("" when there is none): it changes, atomically, only
    when a build has written and checked a whole new version."""
    try:
        return (path / "CURRENT").read_text().strip()
    except OSError:
        return ""


def get_index(index: str | Path | None = None, *, model: str | None = None, wait: bool = False) -> Index:
    """The loaded index for a directory (default: the bundled law, built on first use); loaded once per process,
    and again when a build has switched the directory to a new version (rag.library adds and removes laws so).

    While the new version loads, other callers get the previous one: every question is answered from one
    whole version, the one live when its answer began or the one before it. `wait`: wait for a load under way
    in another thread rather than return the version in hand (rag.library does, so that once a change has
    returned every question is answered from it)."""
    if os.environ.get("RAG_ALLOW_NETWORK") != "1":  # no model hub access at run time unless asked for
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    default = default_spec() if index is None and model is None else None  # the bundled law with the default model
    path = Path(index) if index is not None else default_index_path(model or default.name)
    key = (str(path.resolve()), model or "")
    with _lock:
        held = _indexes.get(key)
        loading = _loading.setdefault(key, threading.Lock())
    if held is not None and held[0] == _live_version(path):
        return held[1]
    if held is not None and not loading.acquire(blocking=wait):
        return held[1]  # another thread is loading the new version: answer from the whole one in hand
    if held is None:
        loading.acquire()
    try:
        with _lock:
            held = _indexes.get(key)
        if held is not None and held[0] == _live_version(path):
            return held[1]
        spec = ModelSpec(name=model) if model else default
        if index is None and not (path / "CURRENT").exists():
            if not DATA_DIR.is_dir():
                raise IndexUnavailable(f"找不到内置法规目录：{DATA_DIR}")
            build_index([DATA_DIR], path, model=spec or ModelSpec())
        if not (path / "CURRENT").exists() and (path.parent / "library.json").is_file():  # rag.library's layout
            raise IndexUnavailable(f"法规库“{path.parent.name}”还没有法规：请先在“法规库”页上传，或运行 rag library add {path.parent} 文件")
        version, loaded = _open_live(path, spec, "auto" if index is None else "built")
        with _lock:
            _indexes[key] = (version, loaded)
        return loaded
    finally:
        loading.release()


def _open_live(path: Path, spec: ModelSpec | None, rescorer: Literal["built", "auto"]) -> tuple[str, Index]:
    """The index directory's live version and its Index. A build that switches versions meanwhile (and
    removes the old one) makes the load start again on the new one. `rescorer`: "auto" for the bundled index,
    which follows the default second model; "built" for any other."""
    for attempt in range(5):
        version = _live_version(path)
        try:
            loaded = open_index(path, model=spec, rescorer=rescorer)
        except (IndexUnavailable, OSError):
            if attempt == 4 or _live_version(path) == version:
                raise
            continue
        if _live_version(path) == version:
            return version, loaded
    return _live_version(path), loaded


def clean_question(question: object) -> str:
    """The question with control characters removed, or InvalidQuestion saying what is wrong with it."""
    if isinstance(question, bytes):
        raise InvalidQuestion("问题必须是文字，不能是二进制数据。")
    if not isinstance(question, str):
        raise InvalidQuestion(f"问题必须是文字，收到的是 {type(question).__name__}。")
    if len(question) > _MAX_RAW_CHARS:
        raise InvalidQuestion(f"问题过长（{len(question)} 字），请精简到 {MAX_QUESTION_CHARS} 字以内。")
    text = _plain(question)
    if not text:
        raise InvalidQuestion("问题为空，请输入要咨询的问题。")
    if len(text) > MAX_QUESTION_CHARS:
        raise InvalidQuestion(f"问题过长（{len(text)} 字），请精简到 {MAX_QUESTION_CHARS} 字以内。")
    readable = sum(1 for c in text if c.isalnum() or unicodedata.category(c).startswith("P") or c == " ")
    if readable < 0.5 * len(text) or text.count("\ufffd") > len(text) // 4:
        raise InvalidQuestion("问题中大部分是无法识别的字符，请用中文或英文提问。")
    return text


def _plain(text: str) -> str:
    """The text without control, format or unpaired surrogate characters, white space runs made one space."""
    return " ".join("".join(c for c in text if unicodedata.category(c)[0] != "C" or c in "\n\t").split())


def retrieve(
    question: str,
    k: int = 10,
    *,
    index: str | Path | None = None,
    mode: Mode = "hybrid",
    laws: tuple[str, ...] = (),
    model: str | None = None,
) -> list[Hit]:
    """The k articles most likely to answer the question, best first."""
    text = clean_question(question)
    if k < 1:
        raise InvalidQuestion("k 必须是正整数。")
    return search(get_index(index, model=model), text, RetrieveOptions(k=k, mode=mode, laws=tuple(laws)))


def _extractive(
    text: str, *, index: str | Path | None, k: int, mode: Mode, laws: tuple[str, ...], model: str | None, history: Sequence[Answer]
) -> Answer:
    """The extractive reader's answer to the standalone form of a clean question; its .question is that form."""
    if k < 1:
        raise InvalidQuestion("k 必须是正整数。")
    loaded = get_index(index, model=model)
    # Earlier turns come back from the browser: only the last few are read, and their text is cleaned again
    standalone = _plain(rewrite_question(text, list(history)[-MAX_HISTORY_TURNS:], loaded))
    # BM25 ranks alone in bm25 mode, but the abstention model reads the hits' dense scores too
    query = loaded.embedder.encode_queries([loaded.names.as_self_reference(standalone)])[0] if mode == "bm25" else None
    hits = search(loaded, standalone, RetrieveOptions(k=k, mode=mode, laws=tuple(laws)), query=query)
    result = read(loaded, standalone, hits, followup=bool(history))
    result.warnings.extend(loaded.warnings)
    return result


def _as_asked(result: Answer, text: str) -> Answer:
    """The answer to the standalone question, recorded as the answer to the question as asked."""
    standalone, result.question = result.question, text
    result.rewritten_question = standalone if standalone != text else ""
    return result


def answer(
    question: str,
    *,
    index: str | Path | None = None,
    k: int = 5,
    mode: Mode = "hybrid",
    laws: tuple[str, ...] = (),
    model: str | None = None,
    history: Sequence[Answer] = (),
    llm: LLM | None = None,
) -> Answer:
    """Answer a question by quoting the articles that support it, with numbered citations,
    or abstain (Answer.abstained) and list the closest articles.

    history: the earlier answers of a conversation, oldest first; a follow-up question is
    rewritten from them (Answer.rewritten_question) before retrieval.
    llm: an LLM (LLMConfig, a spec such as "openai:qwen2.5:7b", or a backend) that writes the answer
    from the same articles, each claim citing one (rag.answering.generate); None for the extractive reader."""
    text = clean_question(question)
    result = _extractive(text, index=index, k=k, mode=mode, laws=laws, model=model, history=history)
    if llm is not None:
        result = generate_answer(result.question, model_articles(result, llm), result, llm)
    return _as_asked(result, text)


def answer_stream(
    question: str,
    *,
    index: str | Path | None = None,
    k: int = 5,
    mode: Mode = "hybrid",
    laws: tuple[str, ...] = (),
    model: str | None = None,
    history: Sequence[Answer] = (),
    llm: LLM | None = None,
) -> Iterator[str | Answer]:
    """Like answer(), streamed: the LLM's text pieces as it writes them (none without an LLM or when
    abstaining), then the final Answer, whose text may differ from the pieces once citations are checked."""
    text = clean_question(question)
    result = _extractive(text, index=index, k=k, mode=mode, laws=laws, model=model, history=history)
    if llm is None:
        yield _as_asked(result, text)
        return
    for piece in stream_answer(result.question, model_articles(result, llm), result, llm):
        yield piece if isinstance(piece, str) else _as_asked(piece, text)


@dataclass(frozen=True)
class ArticleView:
    """One article in full, with the labels of its neighbours for previous/next navigation."""

    law: str
    doc_id: str
    article: str
    text: str
    path: tuple[str, ...]
    url: str
    previous: str | None
    next: str | None


def article(doc_id: str, label: str, *, index: str | Path | None = None) -> ArticleView:
    """The full text of an article (all parts of a split one), or the law's document record for label ''."""
    loaded = get_index(index)
    rows = loaded.chunk_rows(doc_id, label)
    if not rows:
        raise InvalidQuestion(f"索引中没有这一条：{doc_id} {label}")
    first = loaded.chunks[rows[0]]
    before, _ = loaded.neighbours(rows[0])
    _, after = loaded.neighbours(rows[-1])
    return ArticleView(
        law=first.law,
        doc_id=doc_id,
        article=label,
        text="\n".join(loaded.chunks[r].text for r in rows),
        path=first.path,
        url=first.url,
        previous=loaded.chunks[before].article if before is not None else None,
        next=loaded.chunks[after].article if after is not None else None,
    )
