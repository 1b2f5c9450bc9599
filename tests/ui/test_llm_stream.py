"""The chat with a language model: its tokens stream into the chat, then the checked answer replaces them
with the sources and their quoted text; serve() mounts the /v1 API and names it. rag.answer_stream is a fake."""

from __future__ import annotations

import gradio as gr
import pytest

import ui.app as app
from rag import Answer, Chunk, Citation, Hit, InvalidQuestion, LLMConfig, Stance
from ui.format import GENERATED_CAUTION, STREAMING_NOTE, is_generated, message_markdown, streaming_markdown

LAW = "中华人民共和国个人信息保护法"
ARTICLE = "个人信息处理者不能证明自己没有过错的，应当承担损害赔偿等侵权责任。"
MODE = "LLM：llamacpp:tiny.gguf"


def _answer(backend: str = "llamacpp:tiny.gguf", fell_back: bool = False) -> Answer:
    chunk = Chunk(chunk_id="c69", doc_id="pipl", law=LAW, article="第六十九条", number=69, sub=0, text=ARTICLE, path=("第七章 法律责任",))
    return Answer(
        question="数据泄露了要我证明公司有过错吗？",
        text="不需要，公司不能证明自己没有过错就要赔偿[1]。",
        citations=[Citation(1, LAW, "第六十九条", "pipl", ARTICLE, ARTICLE, 0.8, ("第七章 法律责任",))],
        passages=[Hit(chunk, 0.8, 1)],
        stance=Stance.ANSWERED,
        backend=backend,
        fell_back=fell_back,
    )


def _text(update) -> list[str]:
    assert isinstance(update, gr.Chatbot)
    return ["".join(part["text"] for part in m["content"]) for m in update.value]


@pytest.fixture
def llm_mode(monkeypatch) -> list[dict]:
    """An LLM answer mode whose rag.answer_stream yields three pieces, then the final answer; records its calls."""
    calls: list[dict] = []

    def fake_stream(question, **options):
        calls.append({"question": question, **options})
        if question == "坏":
            raise InvalidQuestion("问题为空，请输入要咨询的问题。")
        yield from ("不需要，", "公司不能证明", "自己没有过错就要赔偿[1]。")
        yield _answer()

    monkeypatch.setitem(app.ANSWER_MODES, MODE, {"llm": LLMConfig("llamacpp", "/x/tiny.gguf")})
    monkeypatch.setattr(app, "answer_stream", fake_stream)
    monkeypatch.setattr(app, "STREAM_PAUSE", 0)
    return calls


def test_the_chat_shows_the_tokens_as_they_come_then_the_checked_answer_with_quotes(llm_mode):
    updates = list(app.respond("数据泄露了要我证明公司有过错吗？", [], 5, MODE, [], index="unused"))
    streamed = [_text(u[0])[-1] for u in updates[:-1]]
    assert len(streamed) == 3 and all(s.endswith(STREAMING_NOTE + "*") or STREAMING_NOTE in s for s in streamed)
    assert streamed[0].startswith("不需要， ▍") and streamed[-1].startswith("不需要，公司不能证明自己没有过错就要赔偿[1]。 ▍")
    assert "写完、核对引用后" in updates[0][2]  # the sources panel says what it will show
    assert all(isinstance(u[1], dict) and isinstance(u[3], dict) for u in updates[:-1])  # gr.skip(): turns, picker unchanged
    chat, turns, sources, picker, saved = updates[-1]
    final = _text(chat)[-1]
    assert "▍" not in final and GENERATED_CAUTION.format(backend="llamacpp:tiny.gguf")[:10] in final
    assert f"> {ARTICLE}" in final  # the quoted article under the generated answer
    assert turns[0]["answer"]["backend"] == "llamacpp:tiny.gguf" and "第六十九条" in sources
    assert llm_mode[0]["llm"] == LLMConfig("llamacpp", "/x/tiny.gguf") and llm_mode[0]["k"] == 5


def test_an_error_while_generating_is_shown_in_the_chat(llm_mode):
    *_, (chat, turns, *_rest) = app.respond("坏", [], 5, MODE, [], index="unused")
    assert turns[0]["error"] == "问题为空，请输入要咨询的问题。" and "出错了" in _text(chat)[-1]


def test_quotes_and_the_caution_only_under_generated_answers():
    generated = _answer().to_dict()
    assert is_generated(generated) and f"> {ARTICLE}" in message_markdown(generated)
    for plain in (_answer(backend="extractive").to_dict(), _answer(fell_back=True).to_dict()):
        assert not is_generated(plain)
        text = message_markdown(plain)
        assert f"> {ARTICLE}" not in text and "语言模型" not in text
    assert streaming_markdown("a*b").startswith("a\\*b ▍")


def test_serve_mounts_the_api_and_offers_the_llm(launched, monkeypatch, capsys):
    monkeypatch.setattr(app, "ANSWER_MODES", {"摘录（默认）": {}})
    monkeypatch.delenv("RAG_AUTH", raising=False)
    monkeypatch.delenv("RAG_API_KEY", raising=False)
    app.serve(host="0.0.0.0", port=9000, llm=LLMConfig("openai", "qwen2.5:7b"))
    err = capsys.readouterr().err
    paths = {route.path for route in launched["app_kwargs"]["routes"]}
    assert {"/v1/models", "/v1/chat/completions"} <= paths
    assert "OpenAI 兼容接口：http://0.0.0.0:9000/v1" in err and "回答：openai:qwen2.5:7b" in err
    assert "/v1 接口没有密钥" in err
    assert list(app.ANSWER_MODES) == ["摘录（默认）", "LLM：openai:qwen2.5:7b"]
    monkeypatch.setenv("RAG_AUTH", "user:口令")
    app.serve(llm="extractive")
    err = capsys.readouterr().err
    assert "回答：摘录" in err and "含非 ASCII 字符" in err and "没有密钥" not in err
