"""The app's event handlers with the rag API replaced by fakes: streaming, history, errors, votes,
restoring a conversation, the article viewer and the serve() options."""

from __future__ import annotations

import json

import gradio as gr
import pytest

import ui.app as app
from rag import Answer, ArticleView, Chunk, Citation, Hit, InvalidQuestion, Stance

LAW = "贵州省大数据发展应用促进条例"
DOC = "d1"


def make_answer(question: str, text: str, article: str, rewritten: str = "") -> Answer:
    full = "本条例自2026年1月1日起施行。"
    chunk = Chunk(chunk_id=f"{DOC}-{article}", doc_id=DOC, law=LAW, article=article, number=51, sub=0, text=full,
                  path=("第九章 附则",), url="https://example.org/law")
    return Answer(
        question=question,
        text=text,
        citations=[Citation(1, LAW, article, DOC, full, full, 0.9, ("第九章 附则",), "https://example.org/law")],
        passages=[Hit(chunk, 0.9, 1)],
        stance=Stance.ANSWERED,
        rewritten_question=rewritten,
    )


class FakeAnswer:
    """Stands in for rag.answer(): records its calls, answers from a script."""

    def __init__(self, *results: Answer | Exception):
        self.results = list(results)
        self.calls: list[dict] = []

    def __call__(self, question: str, **kwargs) -> Answer:
        self.calls.append({"question": question, **kwargs})
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(app, "STREAM_PAUSE", 0)


def run(question: str, turns: list[dict], k: int = 5) -> list[tuple]:
    return list(app.respond(question, turns, k, "摘录（默认）", [], index="unused"))


def chat_value(update) -> list[dict]:
    """The messages of a Chatbot update as {"role", "content"} with the content as plain text."""
    assert isinstance(update, gr.Chatbot)
    return [{"role": m["role"], "content": "".join(part["text"] for part in m["content"])} for m in update.value]


def test_respond_streams_the_answer_then_updates_turns_and_panels(monkeypatch):
    text = "根据《贵州省大数据发展应用促进条例》第五十一条，本条例自2026年1月1日起施行。[1]"
    fake = FakeAnswer(make_answer("条例什么时候施行？", text, "第五十一条"))
    monkeypatch.setattr(app, "answer", fake)
    steps = run("条例什么时候施行？", [], k=3)
    assert fake.calls == [{"question": "条例什么时候施行？", "index": "unused", "k": 3, "laws": (), "history": []}]
    streamed = [chat_value(step[0])[-1]["content"] for step in steps[:-1]]
    assert len(streamed) >= 5 and all(len(a) < len(b) for a, b in zip(streamed, streamed[1:]))
    assert streamed[-1] == app.md_escape(text) and "来源" not in streamed[-1]
    chat, turns, sources, picker, saved = steps[-1]
    messages = chat_value(chat)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert "**来源**\n[1] 《贵州省大数据发展应用促进条例》第五十一条（第九章 附则）" in messages[1]["content"]
    assert turns == saved and turns[0]["answer"]["citations"][0]["article"] == "第五十一条"
    json.dumps(turns)  # kept in the browser: must be JSON
    assert "<mark>本条例自2026年1月1日起施行。</mark>" in sources
    assert picker.choices == [("[1] 《贵州省大数据发展应用促进条例》第五十一条", f"{DOC}#第五十一条")]


def test_follow_up_passes_earlier_answers_as_history(monkeypatch):
    first = make_answer("条例什么时候施行？", "…施行。[1]", "第五十一条")
    second = make_answer("那违反了怎么处罚？", "…从其规定。[1]", "第四十九条", rewritten="条例什么时候施行，违反了怎么处罚？")
    fake = FakeAnswer(first, second)
    monkeypatch.setattr(app, "answer", fake)
    turns = run("条例什么时候施行？", [])[-1][1]
    chat, turns, *_ = run("那违反了怎么处罚？", turns)[-1]
    (earlier,) = fake.calls[1]["history"]
    assert isinstance(earlier, Answer)
    assert earlier.question == "条例什么时候施行？" and earlier.citations[0].article == "第五十一条"
    assert earlier.citations[0].path == ("第九章 附则",)
    assert chat_value(chat)[3]["content"].startswith("> 理解为：条例什么时候施行，违反了怎么处罚？\n\n")
    assert len(turns) == 2


def test_history_skips_failed_turns():
    turns = [{"question": "？？", "answer": None, "error": "问题为空"}]
    assert app.history_from_turns(turns) == []


def test_rag_errors_are_shown_in_the_chat(monkeypatch):
    monkeypatch.setattr(app, "answer", FakeAnswer(InvalidQuestion("问题中大部分是无法识别的字符，请用中文或英文提问。")))
    (final,) = run("\ufffd\ufffd\ufffd", [])
    chat, turns, sources, picker, saved = final
    assert chat_value(chat)[1]["content"] == "**出错了**：问题中大部分是无法识别的字符，请用中文或英文提问。"
    assert turns[0]["answer"] is None and "提问后" in sources and picker.choices == []


def test_unexpected_errors_do_not_escape(monkeypatch):
    monkeypatch.setattr(app, "answer", FakeAnswer(RuntimeError("boom")))
    (final,) = run("条例什么时候施行？", [])
    assert chat_value(final[0])[1]["content"] == f"**出错了**：{app.INTERNAL_ERROR}"


def test_begin_shows_the_question_and_locks_the_inputs():
    pending, chat, box, *buttons = app.begin("  条例什么时候施行？ ", [], buttons=5)
    assert pending == "条例什么时候施行？"
    assert chat_value(chat) == [{"role": "user", "content": "条例什么时候施行？"}]
    assert box.value == "" and box.interactive is False
    assert len(buttons) == 5 and all(b.interactive is False for b in buttons)
    box, *buttons = app.finish(buttons=5)
    assert box.interactive is True and all(b.interactive is True for b in buttons)


def test_begin_refuses_an_empty_question():
    with pytest.raises(gr.Error):
        app.begin("   ", [], buttons=1)


def test_vote_writes_feedback_and_keeps_the_vote_in_the_turn(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_HOME", str(tmp_path))
    data = make_answer("条例什么时候施行？", "…施行。[1]", "第五十一条").to_dict()
    turns = [{"question": "条例什么时候施行？", "answer": data, "error": ""}]
    updated, saved = app.vote(turns, gr.LikeData(None, {"index": 1, "value": ["…"], "liked": False}))
    assert updated == saved and updated[0]["feedback"] == "Dislike" and "feedback" not in turns[0]
    (line,) = (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["vote"] == "down" and record["question"] == "条例什么时候施行？"
    assert record["citations"] == [{"number": 1, "law": LAW, "article": "第五十一条", "doc_id": DOC}]
    withdrawn, _ = app.vote(updated, gr.LikeData(None, {"index": 1, "value": ["…"], "liked": ""}))
    assert withdrawn[0]["feedback"] is None
    assert len((tmp_path / "feedback.jsonl").read_text(encoding="utf-8").splitlines()) == 1


def test_restore_re_renders_a_saved_conversation_and_drops_junk():
    data = make_answer("条例什么时候施行？", "…施行。[1]", "第五十一条").to_dict()
    saved = [{"question": "条例什么时候施行？", "answer": data, "error": "", "feedback": "Like"}, {"nonsense": 1}, "x"]
    turns, chat, sources, picker = app.restore(saved)
    assert len(turns) == 1
    assert "[1] 《贵州省大数据发展应用促进条例》第五十一条" in chat_value(chat)[1]["content"]
    assert chat.feedback_value == ["Like"]
    assert "第 1 问" in sources and len(picker.choices) == 1
    assert app.restore(None)[0] == []


def test_show_turn_shows_the_sources_of_the_selected_message():
    answers = [make_answer(q, "…[1]", a).to_dict() for q, a in (("问一", "第五十一条"), ("问二", "第四十九条"))]
    turns = [{"question": d["question"], "answer": d, "error": ""} for d in answers]
    sources, picker = app.show_turn(turns, gr.SelectData(None, {"index": 0, "value": "问一"}))
    assert "第 1 问：问一" in sources and "第五十一条" in sources
    sources, _ = app.show_turn(turns, gr.SelectData(None, {"index": 3, "value": "…"}))
    assert "第 2 问：问二" in sources


def test_open_article_shows_it_with_previous_and_next(monkeypatch):
    view = ArticleView(LAW, DOC, "第五十条", "本条例下列用语的含义：", ("第九章 附则",), "https://example.org/law", "第四十九条", "第五十一条")
    monkeypatch.setattr(app, "article", lambda doc_id, label, index=None: view)
    html, navigation, previous, following, tabs, picked = app.open_article(DOC, "第五十条", None)
    assert "第五十条" in html and "本条例下列用语的含义：" in html
    assert navigation == {"doc_id": DOC, "previous": "第四十九条", "next": "第五十一条"}
    assert previous.value == "上一条：第四十九条" and previous.interactive is True
    assert following.value == "下一条：第五十一条"
    assert picked is None


def test_open_article_reports_a_missing_article(monkeypatch):
    def missing(doc_id, label, index=None):
        raise InvalidQuestion(f"索引中没有这一条：{doc_id} {label}")

    monkeypatch.setattr(app, "article", missing)
    html, navigation, *_ = app.open_article(DOC, "<第九百条>", None)
    assert "索引中没有这一条" in html and "&lt;第九百条&gt;" in html and navigation is None


def test_ask_endpoint_returns_the_answer_dict_or_a_chinese_error(monkeypatch):
    monkeypatch.setattr(app, "answer", FakeAnswer(make_answer("q", "…[1]", "第五十一条"), InvalidQuestion("问题为空，请输入要咨询的问题。")))
    assert app.ask("q", 2)["citations"][0]["article"] == "第五十一条"
    with pytest.raises(gr.Error, match="问题为空"):
        app.ask("", 2)


@pytest.mark.parametrize("value, expected", [(None, None), ("", None), ("admin:s3:cret", ("admin", "s3:cret"))])
def test_parse_auth(value, expected):
    assert app.parse_auth(value) == expected


@pytest.mark.parametrize("value", ["admin", ":pass", "admin:"])
def test_parse_auth_rejects_malformed_values(value):
    with pytest.raises(app.RagError, match="用户名:密码"):
        app.parse_auth(value)


def test_serve_warns_when_exposed_and_reads_auth_from_the_environment(monkeypatch, capsys):
    launched = {}

    class FakeDemo:
        def queue(self, **kwargs):
            launched["queue"] = kwargs
            return self

        def launch(self, **kwargs):
            launched.update(kwargs)

    def build(index=None, **options):
        launched["options"] = options
        return FakeDemo()

    monkeypatch.setattr(app, "build_app", build)
    monkeypatch.setenv("RAG_AUTH", "user:pass")
    app.serve(host="0.0.0.0", port=9000)
    assert "对外开放" in capsys.readouterr().err
    assert launched["auth"] == ("user", "pass") and launched["server_name"] == "0.0.0.0" and launched["server_port"] == 9000
    assert launched["queue"]["default_concurrency_limit"] >= 2
    assert launched["options"] == {"read_only": False, "changes_allowed": True}  # a login: libraries may be changed
    monkeypatch.delenv("RAG_AUTH")
    app.serve()
    assert "对外开放" not in capsys.readouterr().err
    assert launched["server_name"] == "127.0.0.1" and launched["server_port"] == 7860 and launched["auth"] is None
    assert launched["options"] == {"read_only": False, "changes_allowed": True}  # loopback
    app.serve(host="0.0.0.0", read_only=True)
    assert "不能在网页上修改法规库" in capsys.readouterr().err
    assert launched["options"] == {"read_only": True, "changes_allowed": False}  # open to the network without a login
