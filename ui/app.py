"""The web chat: a thin Gradio client of rag.answer()/rag.article() with streamed answers, a sources
panel, an article viewer, 👍/👎 feedback and a named API endpoint ("ask") for gradio_client."""

from __future__ import annotations

import html
import ipaddress
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio reads it
if os.environ.get("RAG_ALLOW_NETWORK") != "1":  # no model hub access at run time unless asked for; gradio imports the hub client
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gradio as gr

from rag import Answer, Citation, LLMConfig, Stance, answer, answer_stream, article, get_index, load_llm_config
from rag.errors import RagError
from rag.index import LawInfo
from rag.library import UPLOAD_LIMITS

from .feedback import append_feedback, feedback_record
from .openai_api import API_PREFIX, ApiConfig, api_key, build_routes, served_libraries
from .library import LIBRARY_CSS, ChatHooks, LibraryManager, add_library_api, build_library_tab, wire_library
from .format import (
    CHAT_PLACEHOLDER,
    DISCLAIMER,
    Turn,
    article_choices,
    article_key,
    chat_feedback,
    corpus_summary,
    md_escape,
    message_markdown,
    render_article,
    render_chat,
    render_sources,
    split_article_key,
    stream_prefixes,
    streaming_markdown,
)

__all__ = [
    "EXAMPLES",
    "ANSWER_MODES",
    "llm_answer_modes",
    "THEME",
    "CSS",
    "build_app",
    "serve",
    "parse_auth",
    "history_from_turns",
    "begin",
    "respond",
    "finish",
    "clear",
    "restore",
    "show_turn",
    "vote",
    "open_article",
    "ask",
]

log = logging.getLogger(__name__)

EXAMPLES = ("条例什么时候施行？", "数据中心用电有什么支持政策？", "第十五条讲了什么？", "这部条例是谁制定的？")


def llm_answer_modes() -> dict[str, dict[str, Any]]:
    """{"LLM：backend:model": {"llm": config}} for an LLM configured by environment variables or the
    config file (rag.load_llm_config()); empty when none is, or when its configuration is invalid (logged)."""
    try:
        config = load_llm_config()
    except RagError as error:
        log.warning("语言模型配置无效，只提供摘录回答：%s", error)
        return {}
    return {f"LLM：{config.name}": {"llm": config}} if config else {}


# Answer modes offered in the settings: label → extra keyword arguments of rag.answer().
ANSWER_MODES: dict[str, dict[str, Any]] = {"摘录（默认）": {}, **llm_answer_modes()}
CONCURRENCY = 4  # questions answered at the same time, from the page and the API together; the rest wait in the queue
ANSWERING = "answer"  # the concurrency group of everything that calls rag.answer()
STREAM_PAUSE = 0.02  # seconds between streamed pieces of an answer
# Beside the answer modes when a language model is offered: what docs/llm.md measured of the local model
GENERATING_SOURCES = '<div class="src-empty">语言模型正在依据检索到的条文写回答；写完、核对引用后，这里列出它引用的条文原文。</div>'
LLM_CAUTION = "语言模型的回答逐字生成，实测小模型有时会把条文读反（docs/llm.md）；回答下方附有所引条文的原文，请以原文为准。"
INTERNAL_ERROR = "内部错误，未能回答这个问题，请稍后重试。"
VIEWER_PLACEHOLDER = '<div class="src-empty">在“引用条文”中点击条文标题，或在上方选择条文，即可在这里阅读全文并翻看上一条、下一条。</div>'
LOOPBACK_NAMES = ("localhost",)
PICKER_LABEL = "本次回答涉及的条文"
_PRIVATE: dict[str, Any] = {"api_visibility": "private"}  # UI events stay out of the API; only "ask" is public

THEME = gr.themes.Soft(
    font=["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", "sans-serif"],
    font_mono=["Noto Sans Mono CJK SC", "DejaVu Sans Mono", "monospace"],
)

CSS = """
#header h1 { margin: 0 0 4px 0; font-size: 1.6em; }
#header .corpus { color: var(--body-text-color-subdued); }
#footer { text-align: center; color: var(--body-text-color-subdued); font-size: 0.9em; padding-top: 4px; }
#chat .bubble-wrap { padding-top: 40px; }
#chat blockquote { margin: 0 0 6px 0; padding: 2px 10px; font-size: 0.9em; color: var(--body-text-color-subdued); }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px; margin-bottom: 10px;
            background: var(--background-fill-primary); }
.src-head { display: flex; gap: 6px; align-items: baseline; }
.src-num { font-weight: 600; color: var(--color-accent); }
#sources .src-open { font-weight: 600; font-size: 1em; text-align: left; background: none; border: none; box-shadow: none;
                     padding: 0; margin: 0; cursor: pointer; color: var(--body-text-color); }
#sources .src-open:hover { color: var(--color-accent); text-decoration: underline; }
#sources .src-open::after { content: " ›"; color: var(--color-accent); }
.src-meta { font-size: 0.85em; color: var(--body-text-color-subdued); margin: 2px 0 6px 0; }
.src-text { white-space: pre-line; line-height: 1.7; }
.src-text mark { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.src-question { font-size: 0.9em; color: var(--body-text-color-subdued); margin-bottom: 8px; }
.src-abstain { border-left: 4px solid #f59e0b; background: #fffbeb; color: #92400e; padding: 8px 10px; margin-bottom: 10px; border-radius: 4px; }
.src-related { border-left: 4px solid #3b82f6; background: #eff6ff; color: #1e3a8a; padding: 8px 10px; margin-bottom: 10px; border-radius: 4px; }
.src-hint { font-size: 0.85em; color: var(--body-text-color-subdued); }
.src-empty { color: var(--body-text-color-subdued); padding: 12px 4px; line-height: 1.7; }
#examples { gap: 8px; align-items: center; flex-wrap: wrap; }
#examples > * { flex: 0 0 auto !important; min-width: 0 !important; width: auto !important; }
.examples-label { color: var(--body-text-color-subdued); font-size: 0.9em; align-self: center; }
.art-title { font-weight: 600; font-size: 1.05em; }
"""

# Clicking an article title in the sources panel triggers its "cite" event with the article's ids.
SOURCES_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('.src-open');
  if (button) trigger('cite', {doc_id: button.dataset.doc, article: button.dataset.article});
});
"""


def history_from_turns(turns: Sequence[Turn]) -> list[Answer]:
    """The earlier answers of the conversation as Answer records for rag.answer(history=...), oldest
    first; failed turns are left out. Passages are not restored: rewriting a follow-up reads only
    the question, the rewritten question and the citations."""
    history = []
    for turn in turns:
        data = turn.get("answer")
        if data:
            history.append(
                Answer(
                    question=data["question"],
                    text=data["text"],
                    citations=[Citation(**{**c, "path": tuple(c["path"])}) for c in data["citations"]],
                    passages=[],
                    stance=Stance(data.get("stance") or (Stance.NOT_COVERED if data["abstained"] else Stance.ANSWERED)),
                    backend=data["backend"],
                    fell_back=data["fell_back"],
                    rewritten_question=data["rewritten_question"],
                    warnings=list(data["warnings"]),
                    confidence=data.get("confidence"),
                )
            )
    return history


def _input_updates(enabled: bool, count: int) -> list[Any]:
    """Updates for the question box and the `count` buttons that ask a question."""
    return [gr.Textbox(interactive=enabled)] + [gr.Button(interactive=enabled) for _ in range(count)]


def begin(question: str, turns: list[dict], *, buttons: int) -> list[Any]:
    """Show the question in the chat and lock the inputs while it is answered.
    Outputs: pending question, chat, question box, then the `buttons` ask buttons."""
    question = (question or "").strip()
    if not question:
        raise gr.Error("请先输入问题。", duration=3, title="提示", print_exception=False)
    chat = _chat(turns, [{"role": "user", "content": md_escape(question)}])
    return [question, chat, gr.Textbox(value="", interactive=False)] + [gr.Button(interactive=False) for _ in range(buttons)]


def finish(*, buttons: int) -> list[Any]:
    """Unlock the question box and the `buttons` ask buttons."""
    return _input_updates(True, buttons)


def _answer_turn(question: str, turns: Sequence[Turn], k: int, mode: str, laws: Sequence[str], index: str | Path | None) -> dict:
    """The new turn: rag.answer()'s result with the conversation as history, or the error to show."""
    try:
        result = answer(
            question, index=index, k=int(k), laws=tuple(laws or ()), history=history_from_turns(turns), **ANSWER_MODES[mode]
        )
    except RagError as error:
        return {"question": question, "answer": None, "error": str(error)}
    except Exception:  # one failing request must not break the page; the log has the traceback
        log.exception("answering %r failed", question)
        return {"question": question, "answer": None, "error": INTERNAL_ERROR}
    return {"question": question, "answer": result.to_dict(), "error": ""}


def _generated_turn(
    question: str, turns: Sequence[Turn], k: int, mode: str, laws: Sequence[str], index: str | Path | None
) -> Iterator[str | dict]:
    """With a language model: the text it has written so far (checked as it grows, rag.answer_stream), each
    time it grows; then the new turn, as _answer_turn() makes it."""
    try:
        options = {"index": index, "k": int(k), "laws": tuple(laws or ()), "history": history_from_turns(turns)}
        shown = ""
        for piece in answer_stream(question, **options, **ANSWER_MODES[mode]):
            if isinstance(piece, str):
                shown += piece
                yield shown
            else:
                result = piece
    except RagError as error:
        yield {"question": question, "answer": None, "error": str(error)}
        return
    except Exception:  # one failing request must not break the page; the log has the traceback
        log.exception("answering %r failed", question)
        yield {"question": question, "answer": None, "error": INTERNAL_ERROR}
        return
    yield {"question": question, "answer": result.to_dict(), "error": ""}


def respond(
    question: str, turns: list[dict], k: int, mode: str, laws: Sequence[str], *, index: str | Path | None = None
) -> Iterator[tuple[Any, ...]]:
    """Answer the pending question, streaming the answer into the chat: a language model's tokens as it
    writes them, then the checked answer with its sources; the extractive reader's finished text in small
    pieces. Yields (chat, turns, sources, article picker, saved turns); only the last yield updates
    anything but the chat."""
    asked = [{"role": "user", "content": md_escape(question)}]
    generated = False
    if ANSWER_MODES[mode].get("llm") is not None:
        for update in _generated_turn(question, turns, k, mode, laws, index):
            if isinstance(update, dict):
                turn = update
                continue
            sources = gr.skip() if generated else GENERATING_SOURCES  # the panel says what it will show
            generated = True
            yield _chat(turns, [*asked, {"role": "assistant", "content": streaming_markdown(update)}]), gr.skip(), sources, gr.skip(), gr.skip()
    else:
        turn = _answer_turn(question, turns, k, mode, laws, index)
    data = turn["answer"]
    if data and not generated:  # nothing was streamed: the finished text, in pieces
        for shown in stream_prefixes(data["text"]):
            streamed = _chat(turns, [*asked, {"role": "assistant", "content": message_markdown(data, shown)}])
            yield streamed, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            time.sleep(STREAM_PAUSE)
    updated = [*turns, turn]
    yield _chat(updated), updated, *_turn_panels(updated, len(updated) - 1), updated


def _chat(turns: Sequence[Turn], extra: Sequence[dict[str, str]] = ()) -> gr.Chatbot:
    """The chat showing the turns and their votes, then the extra messages of the turn in progress."""
    return gr.Chatbot(value=render_chat(turns) + list(extra), feedback_value=chat_feedback(turns))


def _turn_panels(turns: Sequence[Turn], position: int) -> tuple[str, Any]:
    """Sources panel HTML and article picker for the turn at `position` (0-based)."""
    data = turns[position].get("answer") if 0 <= position < len(turns) else None
    if data is None:
        return render_sources(None), gr.Dropdown(choices=[], value=None, label=PICKER_LABEL)
    return render_sources(data, position + 1), gr.Dropdown(choices=article_choices(data), value=None, label=PICKER_LABEL)


def show_turn(turns: list[dict], event: gr.SelectData) -> tuple[str, Any]:
    """Selecting a message in the chat shows the sources of its turn."""
    index = event.index if isinstance(event.index, int) else event.index[0]
    return _turn_panels(turns, index // 2)


def vote(turns: list[dict], event: gr.LikeData) -> tuple[Any, Any]:
    """Record a 👍/👎 on an answer in the feedback file, and keep it in the turn so that the chat
    shows it after a re-render (withdrawing a vote only clears it there). Outputs: turns, saved turns."""
    index = event.index if isinstance(event.index, int) else event.index[0]
    position = index // 2
    data = turns[position].get("answer") if 0 <= position < len(turns) else None
    if data is None:
        return gr.skip(), gr.skip()
    liked = event.liked if isinstance(event.liked, bool) else None
    updated = [dict(turn) for turn in turns]
    updated[position]["feedback"] = None if liked is None else "Like" if liked else "Dislike"
    if liked is not None:
        append_feedback(feedback_record(data, "up" if liked else "down"))
        gr.Info("已记录您的反馈，谢谢！", duration=3, title="反馈")
    return updated, updated


def restore(saved: Any) -> tuple[list[dict], gr.Chatbot, str, Any]:
    """The conversation kept in the browser, re-rendered after a page reload:
    (turns, chat, sources panel, article picker)."""
    turns = [t for t in saved if _is_turn(t)] if isinstance(saved, list) else []
    sources, picker = _turn_panels(turns, len(turns) - 1)
    return turns, _chat(turns), sources, picker


def _is_turn(value: Any) -> bool:
    """Whether a value restored from the browser is a turn this version can show and continue from:
    the storage may hold turns of an older version (other fields) or anything the user put there."""
    if not (isinstance(value, dict) and isinstance(value.get("question"), str)):
        return False
    if not value.get("answer"):
        return isinstance(value.get("error"), str)
    try:
        history_from_turns([value])
        render_chat([value])
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    return True


def clear(*, buttons: int) -> list[Any]:
    """Forget the conversation. Outputs: turns, chat, sources, picker, viewer, navigation, saved
    turns, prev button, next button, then the question box and the `buttons` ask buttons."""
    return [[], _chat([]), render_sources(None), gr.Dropdown(choices=[], value=None), VIEWER_PLACEHOLDER, None, [],
            gr.Button("上一条", interactive=False), gr.Button("下一条", interactive=False)] + _input_updates(True, buttons)


def _keep_viewer() -> tuple[Any, ...]:
    """Outputs of open_article() that change nothing."""
    return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()


def open_article(doc_id: str, label: str, picked: str | None, *, index: str | Path | None = None) -> tuple[Any, ...]:
    """Show an article in the viewer, with `picked` as the dropdown's value (None: clear it).
    Outputs: viewer, navigation state, prev button, next button, tabs, article picker."""
    try:
        view = article(doc_id, label, index=index)
    except RagError as error:
        return f'<div class="src-empty">{html.escape(str(error))}</div>', None, gr.skip(), gr.skip(), gr.Tabs(selected="viewer"), None
    navigation = {"doc_id": view.doc_id, "previous": view.previous, "next": view.next}
    return (
        render_article(view.law, view.article, view.text, view.path, view.url),
        navigation,
        gr.Button(f"上一条：{view.previous}" if view.previous else "上一条", interactive=view.previous is not None),
        gr.Button(f"下一条：{view.next}" if view.next else "下一条", interactive=view.next is not None),
        gr.Tabs(selected="viewer"),
        picked,
    )


def ask(question: str, k: int = 5, *, index: str | Path | None = None) -> dict:
    """API endpoint: answer one question; returns Answer.to_dict(). Errors come back with a Chinese message."""
    try:
        return answer(question, index=index, k=int(k)).to_dict()
    except RagError as error:
        raise gr.Error(str(error), title="错误", print_exception=False) from error


@dataclass
class _Page:
    """The components of the page that event handlers read or update."""

    turns: gr.State
    pending: gr.State
    navigation: gr.State
    saved: gr.BrowserState
    header: gr.HTML
    chat: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    reset: gr.Button
    examples: list[gr.Button]
    k: gr.Slider
    mode: gr.Dropdown
    scope: gr.Dropdown
    tabs: gr.Tabs
    sources: gr.HTML
    picker: gr.Dropdown
    viewer: gr.HTML
    previous: gr.Button
    following: gr.Button

    @property
    def lockable(self) -> list[gr.components.Component]:
        """The inputs locked while a question is answered: the question box and the ask buttons."""
        return [self.question, self.send, *self.examples]


def _chat_column(laws: Sequence[LawInfo]) -> dict[str, Any]:
    """The chat, the question row, the example questions and the settings; components by _Page field."""
    chat = gr.Chatbot(
        label="对话",
        show_label=False,
        elem_id="chat",
        height=450,
        placeholder=CHAT_PLACEHOLDER,
        latex_delimiters=[],
        buttons=["copy", "copy_all"],
        feedback_options=("Like", "Dislike"),
    )
    with gr.Row(equal_height=True):
        question = gr.Textbox(
            placeholder="输入问题，按回车或点击“发送”", show_label=False, container=False, scale=6, max_lines=4, elem_id="question"
        )
        send = gr.Button("发送", variant="primary", scale=1, min_width=80, elem_id="send")
        reset = gr.Button("清空对话", scale=1, min_width=100, elem_id="clear")
    with gr.Row(elem_id="examples"):
        gr.HTML("示例问题：", elem_classes="examples-label")
        examples = [gr.Button(text, size="sm") for text in EXAMPLES]
    with gr.Accordion("设置", open=False):
        k = gr.Slider(1, 10, value=5, step=1, label="检索条文数（k）")
        mode = gr.Dropdown(
            list(ANSWER_MODES),
            value=next(iter(ANSWER_MODES)),
            label="回答方式",
            info=LLM_CAUTION if len(ANSWER_MODES) > 1 else None,
            elem_id="answer-mode",
        )
        scope = gr.Dropdown(
            [(law.title, law.doc_id) for law in laws],
            value=[],
            multiselect=True,
            label="检索范围",
            info="不选则检索全部已收录的法规",
            visible=len(laws) > 1,
        )
    return {"chat": chat, "question": question, "send": send, "reset": reset, "examples": examples, "k": k, "mode": mode, "scope": scope}


def _side_column() -> dict[str, Any]:
    """The sources panel and the article viewer, in two tabs; components by _Page field."""
    with gr.Tabs(selected="sources") as tabs:
        with gr.Tab("引用条文", id="sources"):
            sources = gr.HTML(render_sources(None), js_on_load=SOURCES_JS, max_height=580, elem_id="sources")
        with gr.Tab("条文浏览", id="viewer"):
            picker = gr.Dropdown(choices=[], value=None, label=PICKER_LABEL, elem_id="picker")
            viewer = gr.HTML(VIEWER_PLACEHOLDER, max_height=520, elem_id="viewer")
            with gr.Row():
                previous = gr.Button("上一条", size="sm", interactive=False)
                following = gr.Button("下一条", size="sm", interactive=False)
    return {"tabs": tabs, "sources": sources, "picker": picker, "viewer": viewer, "previous": previous, "following": following}


def _layout(laws: Sequence[LawInfo]) -> _Page:
    """Header, chat beside sources, footer; plus the per-session and per-browser state."""
    state = {
        "turns": gr.State([]),
        "pending": gr.State(""),
        "navigation": gr.State(None),
        "saved": gr.BrowserState([], storage_key="fagui-rag-conversation"),
    }
    header = gr.HTML(_header_html(laws), elem_id="header")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=480):
            chat_parts = _chat_column(laws)
        with gr.Column(scale=2, min_width=360):
            side_parts = _side_column()
    gr.HTML(DISCLAIMER, elem_id="footer")
    return _Page(**state, header=header, **chat_parts, **side_parts)


def _header_html(laws: Sequence[LawInfo]) -> str:
    return f'<h1>法规问答</h1><div class="corpus">{corpus_summary(laws)}</div>'


def _wire_conversation(page: _Page, index: str | Path | None) -> None:
    """Asking (send, Enter, example buttons), clearing, selecting a turn and voting."""
    buttons = len(page.lockable) - 1
    answering = []
    triggers = [(page.send.click, page.question), (page.question.submit, page.question)]
    for trigger, source in triggers + [(button.click, button) for button in page.examples]:
        event = trigger(partial(begin, buttons=buttons), [source, page.turns], [page.pending, page.chat, *page.lockable], **_PRIVATE)
        event = event.success(
            partial(respond, index=index),
            [page.pending, page.turns, page.k, page.mode, page.scope],
            [page.chat, page.turns, page.sources, page.picker, page.saved],
            concurrency_id=ANSWERING,
            **_PRIVATE,
        )
        answering.append(event)
        event.then(partial(finish, buttons=buttons), None, page.lockable, **_PRIVATE)
    cleared = [page.turns, page.chat, page.sources, page.picker, page.viewer, page.navigation, page.saved,
               page.previous, page.following, *page.lockable]
    for trigger in (page.reset.click, page.chat.clear):
        trigger(partial(clear, buttons=buttons), None, cleared, cancels=answering, **_PRIVATE)
    page.chat.select(show_turn, [page.turns], [page.sources, page.picker], **_PRIVATE)
    page.chat.like(vote, [page.turns], [page.turns, page.saved], **_PRIVATE)


def _wire_viewer(page: _Page, index: str | Path | None) -> None:
    """Opening an article from the dropdown or a source card, and stepping to its neighbours."""
    outputs = [page.viewer, page.navigation, page.previous, page.following, page.tabs, page.picker]

    def open_picked(key: str | None) -> tuple[Any, ...]:
        return open_article(*split_article_key(key), key, index=index) if key else _keep_viewer()

    def open_cited(event: gr.EventData) -> tuple[Any, ...]:
        doc_id, label = str(event.doc_id), str(event.article)
        return open_article(doc_id, label, article_key(doc_id, label), index=index)

    def open_previous(nav: Mapping[str, Any] | None) -> tuple[Any, ...]:
        return open_article(nav["doc_id"], nav["previous"], None, index=index) if nav and nav["previous"] else _keep_viewer()

    def open_next(nav: Mapping[str, Any] | None) -> tuple[Any, ...]:
        return open_article(nav["doc_id"], nav["next"], None, index=index) if nav and nav["next"] else _keep_viewer()

    page.picker.input(open_picked, [page.picker], outputs, **_PRIVATE)
    page.sources.cite(open_cited, None, outputs, **_PRIVATE)
    page.previous.click(open_previous, [page.navigation], outputs, **_PRIVATE)
    page.following.click(open_next, [page.navigation], outputs, **_PRIVATE)


def _chat_laws(index: str | Path | os.PathLike | None) -> list[LawInfo]:
    """The laws of the index the chat uses; none for a library that holds no law yet."""
    try:
        return list(get_index(index).laws)
    except RagError:
        if index is None:
            raise
        return []


def _library_hooks(page: _Page, manager: LibraryManager) -> ChatHooks:
    """How the 法规库 tab updates the chat page: header, search scope, and the viewer opened on a law."""

    def open_law(doc_id: str, labels: list[str]) -> tuple[Any, ...]:
        first = labels[0] if labels else ""
        title = next((law.title for law in get_index(manager).laws if law.doc_id == doc_id), doc_id)
        viewer, navigation, previous, following, tabs, _ = open_article(doc_id, first, None, index=manager)
        picker = gr.Dropdown(choices=[(f"《{title}》{label}", article_key(doc_id, label)) for label in labels],
                             value=article_key(doc_id, first) if labels else None, label=f"《{title}》的全部条文")
        return viewer, navigation, previous, following, tabs, picker

    def scope() -> Any:
        laws = _chat_laws(manager)
        return gr.Dropdown(choices=[(law.title, law.doc_id) for law in laws], value=[], visible=len(laws) > 1)

    return ChatHooks(
        header=page.header,
        scope=page.scope,
        open_outputs=[page.viewer, page.navigation, page.previous, page.following, page.tabs, page.picker],
        open_law=open_law,
        header_html=lambda: _header_html(_chat_laws(manager)),
        scope_update=scope,
    )


def _warm_second_model(index: str | Path | None) -> None:
    """Load the index's second model (the re-scorer) in the background, so the first unsure question need not wait ~1.5 s."""
    try:
        loaded = get_index(index)
    except (RagError, OSError):
        return  # a library served by path and not yet holding laws: nothing to warm
    if loaded.rescorer is not None:
        threading.Thread(target=loaded.rescorer.warm, name="warm-rescorer", daemon=True).start()


def build_app(index: str | Path | None = None, *, read_only: bool = False, changes_allowed: bool = True) -> gr.Blocks:
    """The chat page over an index or library (default: the bundled laws, and the libraries of
    $RAG_HOME/libraries to choose from), loading it first if needed, with the 法规库 tab (ui/library.py).
    read_only: no changes to libraries; changes_allowed=False: none either (a server open to the network
    without a login). Pass THEME and CSS + LIBRARY_CSS to launch(), as serve() does."""
    if index is None:
        get_index(None)  # the bundled laws' default index, built on first use
    manager = LibraryManager.for_serving(index, read_only=read_only, changes_allowed=changes_allowed)
    laws = _chat_laws(manager)
    with gr.Blocks(title="法规问答", analytics_enabled=False) as demo:
        with gr.Tabs(selected="chat", elem_id="main-tabs") as main_tabs:
            with gr.Tab("问答", id="chat"):
                page = _layout(laws)
            with gr.Tab("法规库", id="library", elem_id="library-tab"):
                library_tab = build_library_tab(manager)
        _wire_conversation(page, manager)
        _wire_viewer(page, manager)
        wire_library(library_tab, manager, _library_hooks(page, manager), main_tabs, _PRIVATE)
        demo.load(restore, [page.saved], [page.turns, page.chat, page.sources, page.picker], **_PRIVATE)

        def ask_endpoint(question: str, k: int = 5) -> dict:
            """Answer a question about the loaded laws; returns the answer with its citations (Answer.to_dict())."""
            return ask(question, k, index=manager)

        gr.api(ask_endpoint, api_name="ask", concurrency_id=ANSWERING)
        add_library_api(manager)
    return demo


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """("user", "pass") from "user:pass", or None for no login; RagError when malformed."""
    if not value:
        return None
    user, colon, password = value.partition(":")
    if not colon or not user or not password:
        raise RagError("登录口令的格式应为 用户名:密码，例如 --auth admin:s3cret")
    return user, password


def _is_loopback(host: str) -> bool:
    """Whether the host name or address only serves this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    index: str | Path | None = None,
    auth: str | None = None,
    read_only: bool = False,
    llm: LLMConfig | str | None = None,
) -> None:
    """Load the index and the embedding model once, then serve the chat page, and the OpenAI-compatible
    API under /v1 on the same port (ui/openai_api.py), until interrupted.
    auth: "user:pass" for a login (default: the RAG_AUTH environment variable, else none); the API then
    wants the password (or RAG_API_KEY) as its Bearer key.
    read_only: the 法规库 tab only lists laws; the change endpoints do not exist. Off loopback, libraries
    can be changed only with a login.
    llm: the LLM the API answers with and the page offers (a spec such as llamacpp:qwen2.5-coder-1.5b;
    default RAG_LLM or the config file; "extractive" for none)."""
    credentials = parse_auth(auth or os.environ.get("RAG_AUTH"))
    key = api_key(credentials)
    config = llm if isinstance(llm, LLMConfig) else load_llm_config(llm)
    if config is not None:
        ANSWER_MODES.setdefault(f"LLM：{config.name}", {"llm": config})
    if not _is_loopback(host):
        print(f"警告：网页界面与 {API_PREFIX} 接口将在 {host}:{port} 上对外开放，能访问这个地址的任何人都可以使用它。", file=sys.stderr)
        if credentials is None:
            print("建议用 --auth 用户名:密码（或环境变量 RAG_AUTH）设置登录口令；没有口令时不能在网页上修改法规库。", file=sys.stderr)
        if key is None:
            print(f"{API_PREFIX} 接口没有密钥：设置 --auth（密钥即其中的密码）或环境变量 RAG_API_KEY 后，请求须带 Authorization: Bearer 密钥。", file=sys.stderr)
    if key is not None and not key.isascii():
        print(f"注意：{API_PREFIX} 接口的密钥含非 ASCII 字符，多数客户端无法在请求头中发送；请另设 ASCII 的 RAG_API_KEY。", file=sys.stderr)
    print("正在加载索引与嵌入模型……（首次运行需要建立索引，约半分钟）", file=sys.stderr)
    demo = build_app(index, read_only=read_only, changes_allowed=_is_loopback(host) or credentials is not None)
    _warm_second_model(index)
    routes = build_routes(ApiConfig(libraries=served_libraries(index), key=key, llm=config, concurrency=CONCURRENCY))
    print(f"OpenAI 兼容接口：http://{host}:{port}{API_PREFIX}（模型 fagui-rag，回答：{config.name if config else '摘录'}）", file=sys.stderr)
    demo.queue(default_concurrency_limit=CONCURRENCY).launch(
        app_kwargs={"routes": routes},  # the /v1 routes, ahead of Gradio's own
        server_name=host,
        server_port=port,
        auth=credentials,
        auth_message="请输入用户名和密码。",
        theme=THEME,
        css=CSS + LIBRARY_CSS,
        max_file_size=UPLOAD_LIMITS.file_bytes,
        footer_links=["api"],
        run_history=False,
        enable_monitoring=False,
        ssr_mode=False,
        share=False,
        show_error=False,
    )
