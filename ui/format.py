"""Pure formatting for the web UI: Answer dicts (Answer.to_dict()) → chat Markdown and panel HTML.

Nothing here retrieves or reads: the text, citations and quotes all come from the rag API.
Law text is untrusted input: every piece of it is escaped before it reaches Markdown or HTML."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence
from urllib.parse import urlparse

from rag.ingest import chinese_date, without_header

if TYPE_CHECKING:
    from rag.index import LawInfo

__all__ = [
    "DISCLAIMER",
    "CHAT_PLACEHOLDER",
    "Turn",
    "md_escape",
    "quote_spans",
    "highlight",
    "stream_prefixes",
    "message_markdown",
    "streaming_markdown",
    "is_generated",
    "GENERATED_CAUTION",
    "render_chat",
    "chat_feedback",
    "render_sources",
    "render_article",
    "article_choices",
    "article_key",
    "split_article_key",
    "corpus_summary",
]

DISCLAIMER = "回答摘自法规原文，仅供参考，不构成法律意见。"
# Under every answer a language model wrote: the measurements (docs/llm.md) found the small local model
# contradicting the article it cites in some answers
GENERATED_CAUTION = "以上由语言模型 {backend} 依据条文写成。实测它有时会把条文读反（docs/llm.md），请以下面引用的原文为准。"
STREAMING_NOTE = "语言模型正在生成……完成后核对引用，并附上所引条文的原文。"
CHAT_PLACEHOLDER = "请就已收录的法规提问，例如“条例什么时候施行？”，或点击下方的示例问题。"

# One conversation turn as kept in the session state:
# {"question": str, "answer": Answer.to_dict() or None, "error": str ("" unless the turn failed),
#  "feedback": "Like" | "Dislike" (optional: the reader's vote on the answer)}
Turn = Mapping[str, Any]

_MARKER = re.compile(r"(\[\d+\])")
_MD_SPECIAL = re.compile(r"([\\`*_~|#\[\]()!$])")
_LINE_START = re.compile(r"^(\s*\d*)([-+.)])", re.MULTILINE)  # list markers: "- ", "1. ", "2) "
_SENTENCE = re.compile(r"[^。；;！？!?\n]+[。；;！？!?]?")
_TOP_LAWS = 3  # laws named in the header before it switches to a count


def md_escape(text: str) -> str:
    """Text shown literally in Markdown: HTML and Markdown syntax escaped, [n] citation markers kept as typed."""
    parts = _MARKER.split(text)
    escaped = [part if i % 2 else _MD_SPECIAL.sub(r"\\\1", html.escape(part, quote=False)) for i, part in enumerate(parts)]
    return _LINE_START.sub(r"\1\\\2", "".join(escaped))


def quote_spans(text: str, quote: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of the quote inside the text, in order, overlaps merged."""
    spans: list[tuple[int, int]] = []
    start = 0
    for sentence in (s.strip() for s in _SENTENCE.findall(quote)):
        at = text.find(sentence, start)
        if at < 0:
            at = text.find(sentence)
        if sentence and at >= 0:
            spans.append((at, at + len(sentence)))
            start = at + len(sentence)
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


def highlight(text: str, quote: str) -> str:
    """The text as HTML with the quoted sentences wrapped in <mark>; everything escaped."""
    out: list[str] = []
    position = 0
    for begin, end in quote_spans(text, quote):
        out += [html.escape(text[position:begin]), "<mark>", html.escape(text[begin:end]), "</mark>"]
        position = end
    out.append(html.escape(text[position:]))
    return "".join(out)


def stream_prefixes(text: str, pieces: int = 40) -> Iterator[str]:
    """Growing prefixes of the text, about `pieces` of them, ending with the whole text;
    a prefix never ends inside a [n] citation marker."""
    step = max(2, -(-len(text) // max(1, pieces)))
    end = 0
    while True:
        end = min(len(text), end + step)
        opening = text.rfind("[", 0, end)
        marker = _MARKER.match(text, opening) if opening >= 0 else None
        if marker and marker.end() > end:
            end = marker.end()
        yield text[:end]
        if end >= len(text):
            return


def _citation_title(law: str, article: str) -> str:
    return f"《{law}》{article or '（文件信息）'}"


def _chapter(path: Sequence[str]) -> str:
    return " / ".join(path)


def message_markdown(answer: Mapping[str, Any], shown: str | None = None) -> str:
    """The chat message of an answer: a note with the rewritten question when there is one, then the
    answer text; `shown` is the part of the text streamed so far, None for the finished message,
    which adds a footnote listing the cited articles (or the closest ones when it abstained)."""
    parts: list[str] = []
    if answer.get("rewritten_question"):
        parts.append(f"> 理解为：{md_escape(answer['rewritten_question'])}")
    parts.append(md_escape(answer["text"] if shown is None else shown))
    if shown is None:
        parts.append(_footnote(answer))
        parts += [f"> 注意：{md_escape(w)}" for w in answer.get("warnings", [])]
    return "\n\n".join(p for p in parts if p)


def is_generated(answer: Mapping[str, Any]) -> bool:
    """Whether a language model wrote the answer's text (it did not fall back to the extractive reader)."""
    return answer.get("backend", "extractive") != "extractive" and not answer.get("fell_back")


def streaming_markdown(shown: str) -> str:
    """The chat message while a language model writes: its (checked) text so far, a cursor, and a note."""
    return f"{md_escape(shown)} ▍\n\n*{STREAMING_NOTE}*"


def _quoted(text: str) -> str:
    return "\n".join(f"> {md_escape(line)}" for line in text.strip().splitlines() if line.strip())


def _footnote(answer: Mapping[str, Any]) -> str:
    if answer["abstained"]:
        lines = [
            f"{i}. {md_escape(_citation_title(hit['law'], hit['article']))}　相关度 {hit['score']:.2f}"
            for i, hit in enumerate(answer["passages"], start=1)
        ]
        return "**最接近的条文**（不能据此回答，仅供参考）\n\n" + "\n".join(lines) if lines else ""
    lines = []
    generated = is_generated(answer)
    for citation in answer["citations"]:
        chapter = _chapter(citation["path"])
        where = md_escape(_citation_title(citation["law"], citation["article"]) + (f"（{chapter}）" if chapter else ""))
        # a generated answer carries each cited article's quoted text, so that it can be checked where it is read
        lines.append(f"[{citation['number']}] {where}" + (f"\n\n{_quoted(citation['quote'])}" if generated else ""))
    if not lines:
        return ""
    if answer.get("stance") == "related":
        # no provision answers directly: what is quoted is related, which the footnote says as plainly as the text
        return "**相关条文**（没有直接回答这个问题的规定，以下条文与问题相关，仅供参考）\n" + "\n".join(lines)
    if not generated:
        return "**来源**\n" + "\n".join(lines)
    caution = md_escape(GENERATED_CAUTION.format(backend=answer["backend"]))
    return f"*{caution}*\n\n**来源**\n\n" + "\n\n".join(lines)


def render_chat(turns: Sequence[Turn]) -> list[dict[str, str]]:
    """The Chatbot value (messages format) for the turns: a user and an assistant message per turn."""
    messages: list[dict[str, str]] = []
    for turn in turns:
        messages.append({"role": "user", "content": md_escape(turn["question"])})
        reply = message_markdown(turn["answer"]) if turn.get("answer") else f"**出错了**：{md_escape(turn['error'])}"
        messages.append({"role": "assistant", "content": reply})
    return messages


def chat_feedback(turns: Sequence[Turn]) -> list[str | None]:
    """The Chatbot's feedback_value for the turns: each assistant message's vote ("Like", "Dislike") or None."""
    return [turn.get("feedback") for turn in turns]


def _safe_url(url: str) -> str:
    return url if urlparse(url).scheme in ("http", "https") else ""


def _card(*, number: str, law: str, article: str, doc_id: str, text: str, quote: str, score: float, path: Sequence[str], url: str) -> str:
    meta = [html.escape(_chapter(path))] if path else []
    meta.append(f"相关度 {score:.2f}")
    if _safe_url(url):
        meta.append(f'<a href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">法规原文 ↗</a>')
    return (
        '<article class="src-card">'
        f'<div class="src-head"><span class="src-num">{html.escape(number)}</span>'
        f'<button type="button" class="src-open" data-doc="{html.escape(doc_id)}" data-article="{html.escape(article)}"'
        f' title="在条文浏览中打开，可翻看上下条">{html.escape(_citation_title(law, article))}</button></div>'
        f'<div class="src-meta">{" · ".join(meta)}</div>'
        f'<div class="src-text">{highlight(without_header(text), quote)}</div>'
        "</article>"
    )


def render_sources(answer: Mapping[str, Any] | None, turn: int = 0) -> str:
    """HTML of the sources panel for one answer (turn is its 1-based number in the conversation):
    each cited article in full with the quoted sentences highlighted, or, when the answer abstained,
    a plain notice and the closest articles."""
    if answer is None:
        return '<div class="src-empty">提问后，这里会列出回答所引用的条文原文，并标出引用的句子。点击条文标题可在“条文浏览”中翻看上下条。</div>'
    question = answer.get("rewritten_question") or answer["question"]
    head = f'<div class="src-question">第 {turn} 问：{html.escape(question)}</div>' if turn else ""
    if answer["abstained"]:
        notice = '<div class="src-abstain">没有找到能回答这个问题的条文。下面是最接近的条文，仅供参考，不能作为回答依据。</div>'
        cards = [
            _card(number=f"{i}.", law=hit["law"], article=hit["article"], doc_id=hit["doc_id"], text=hit["text"],
                  quote="", score=hit["score"], path=hit["path"], url=hit["url"])
            for i, hit in enumerate(answer["passages"], start=1)
        ]
        return head + notice + "".join(cards)
    hint = '<div class="src-hint">点击条文标题，可在“条文浏览”中阅读全文并翻看上一条、下一条。</div>'
    if answer.get("stance") == "related":
        head += '<div class="src-related">没有直接回答这个问题的规定。下面是与问题相关的条文，仅供参考。</div>'
    cards = [
        _card(number=f"[{c['number']}]", law=c["law"], article=c["article"], doc_id=c["doc_id"], text=c["text"],
              quote=c.get("highlight") or c["quote"], score=c["score"], path=c["path"], url=c["url"])
        for c in answer["citations"]
    ]
    return head + "".join(cards) + (hint if cards else "")


def render_article(law: str, article: str, text: str, path: Sequence[str], url: str) -> str:
    """HTML of the article viewer: the article's title, chapter, full text and source link."""
    meta = [html.escape(_chapter(path))] if path else []
    if _safe_url(url):
        meta.append(f'<a href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">法规原文 ↗</a>')
    return (
        f'<div class="art-title">{html.escape(_citation_title(law, article))}</div>'
        + (f'<div class="src-meta">{" · ".join(meta)}</div>' if meta else "")
        + f'<div class="src-text">{html.escape(without_header(text))}</div>'
    )


def article_key(doc_id: str, article: str) -> str:
    """The value of an article in the viewer's dropdown."""
    return f"{doc_id}#{article}"


def split_article_key(key: str) -> tuple[str, str]:
    """(doc_id, article label) of a dropdown value made by article_key."""
    doc_id, _, article = key.rpartition("#")
    return doc_id, article


def article_choices(answer: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(label, key) pairs for the viewer's dropdown: the answer's cited articles, or its closest
    articles when it abstained."""
    if answer is None:
        return []
    if answer["abstained"]:
        items = [(f"{i}. ", h["law"], h["article"], h["doc_id"]) for i, h in enumerate(answer["passages"], start=1)]
    else:
        items = [(f"[{c['number']}] ", c["law"], c["article"], c["doc_id"]) for c in answer["citations"]]
    return [(prefix + _citation_title(law, article), article_key(doc_id, article)) for prefix, law, article, doc_id in items]


def _law_line(law: LawInfo) -> str:
    details = [f"{law.articles} 条"]
    if law.effective_date:
        details.append(f"{chinese_date(law.effective_date)}起施行")
    if law.status:
        details.append(law.status)
    return f"《{html.escape(law.title)}》（{html.escape('，'.join(details))}）"


def corpus_summary(laws: Sequence[LawInfo]) -> str:
    """HTML line naming the loaded laws with their article counts and effective dates, or, when
    there are many, their count, total articles and a few titles."""
    if not laws:
        return "尚未收录任何法规。"
    if len(laws) <= _TOP_LAWS:
        return "已收录：" + "；".join(_law_line(law) for law in laws)
    total = sum(law.articles for law in laws)
    names = "".join(f"《{html.escape(law.title)}》" for law in laws[:_TOP_LAWS])
    return f"已收录 {len(laws)} 部法规，共 {total} 条，包括{names}等。"
