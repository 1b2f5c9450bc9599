"""The OpenAI-compatible API (ui/openai_api.py): request parsing and content as pure functions, then the
official `openai` client against real `rag serve` processes on 127.0.0.1: one with the extractive reader
behind a login (its password is the API key), one whose LLM is a fake OpenAI-compatible server made here."""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from rag import Answer, Citation, Stance
from tests.app_process import free_port, running_app
from ui.openai_api import (
    DEFAULT_MODEL_ID,
    ApiError,
    answer_content,
    api_key,
    parse_chat_request,
    references,
    served_libraries,
)

openai = pytest.importorskip("openai")

STARTUP_SECONDS = 300
USER, PASSWORD = "reader", "api-key-1"
LAW = "贵州省大数据发展应用促进条例"


# --- pure parts ----------------------------------------------------------------------------------------


def _body(**fields) -> dict:
    return {"model": DEFAULT_MODEL_ID, "messages": [{"role": "user", "content": "条例什么时候施行？"}], **fields}


def test_a_request_becomes_a_question_and_its_earlier_questions():
    body = _body(
        messages=[
            {"role": "system", "content": "你是助手"},
            {"role": "user", "content": "条例什么时候施行？"},
            {"role": "assistant", "content": "2026年1月1日[1]"},
            {"role": "user", "content": [{"type": "text", "text": "那上一条"}, {"type": "image_url", "image_url": {}}, {"type": "text", "text": "呢？"}]},
        ],
        stream=True,
        temperature=0.3,
        max_tokens=64,
        stream_options={"include_usage": True},
    )
    chat = parse_chat_request(body, [DEFAULT_MODEL_ID])
    assert (chat.question, chat.earlier) == ("那上一条\n呢？", ("条例什么时候施行？",))
    assert (chat.stream, chat.temperature, chat.max_tokens, chat.include_usage, chat.references_in_content) == (True, 0.3, 64, True, True)


@pytest.mark.parametrize(
    "body, status, message",
    [
        ([], 400, "JSON 对象"),
        ({"messages": []}, 400, "缺少 model"),
        (_body(model="gpt-4o"), 404, "没有名为 gpt-4o 的模型"),
        (_body(messages=[]), 400, "messages 应是非空的列表"),
        (_body(messages=[{"role": "assistant", "content": "你好"}]), 400, "最后一条消息应是用户"),
        (_body(messages=["问题"]), 400, "第 1 条消息应是带 role 与 content 的对象"),
        (_body(temperature=3), 400, "temperature 应是 0 到 2 之间的数值"),
        (_body(max_tokens=0), 400, "max_tokens 应是"),
        (_body(stream="yes"), 400, "stream 应是 true 或 false"),
        (_body(n=2), 400, "只支持 n = 1"),
    ],
)
def test_bad_requests_are_refused_in_chinese(body, status, message):
    with pytest.raises(ApiError, match=message) as caught:
        parse_chat_request(body, [DEFAULT_MODEL_ID])
    assert caught.value.status == status
    assert caught.value.body()["error"]["type"] == "invalid_request_error"


def test_the_api_key_is_rag_api_key_else_the_login_password():
    assert api_key(("user", "pw"), environ={}) == "pw"
    assert api_key(("user", "pw"), environ={"RAG_API_KEY": "sk-local"}) == "sk-local"
    assert api_key(None, environ={}) is None


def _answer(**fields) -> Answer:
    citation = Citation(1, LAW, "第五十一条", "law", "本条例自2026年1月1日起施行。", "本条例自2026年1月1日起施行。", 0.91234, url="https://x/1")
    base = dict(question="条例什么时候施行？", text="条例自2026年1月1日起施行。[1]", citations=[citation], passages=[], stance=Stance.ANSWERED)
    return Answer(**{**base, **fields})


def test_content_keeps_the_markers_and_ends_with_the_quoted_sources():
    result = _answer(warnings=["语言模型引用了未提供的条文 [9]"], rewritten_question="《条例》第五十一条是什么？")
    assert answer_content(result) == (
        "（理解为：《条例》第五十一条是什么？）\n\n条例自2026年1月1日起施行。[1]\n\n"
        f"**来源**\n\n[1] 《{LAW}》第五十一条\n> 本条例自2026年1月1日起施行。\n\n> 注意：语言模型引用了未提供的条文 [9]"
    )
    assert answer_content(result, with_sources=False).endswith("起施行。[1]")
    assert references(result) == [
        {"number": 1, "law": LAW, "article": "第五十一条", "label": f"《{LAW}》第五十一条", "quote": "本条例自2026年1月1日起施行。",
         "url": "https://x/1", "score": 0.9123}
    ]


def test_models_are_the_bundled_laws_and_the_libraries_that_hold_laws(tmp_path):
    for name, ready in (("hr-rules", True), ("empty", False)):
        folder = tmp_path / name
        (folder / "index").mkdir(parents=True)
        (folder / "library.json").write_text(json.dumps({"name": name}), encoding="utf-8")
        if ready:
            (folder / "index" / "CURRENT").write_text("v1")
    assert served_libraries(root=tmp_path)() == {DEFAULT_MODEL_ID: None, f"{DEFAULT_MODEL_ID}:hr-rules": tmp_path / "hr-rules" / "index"}
    assert served_libraries(index=tmp_path / "hr-rules")() == {DEFAULT_MODEL_ID: tmp_path / "hr-rules" / "index"}


# --- a fake upstream LLM: an OpenAI-compatible server that always cites the first article ---------------


class _Upstream(ThreadingHTTPServer):
    requests: list[dict]


def _upstream_handler(reply: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.server.requests.append(body)
            if body.get("stream"):
                events = [{"choices": [{"delta": {"content": reply[i : i + 3]}}]} for i in range(0, len(reply), 3)]
                data = "".join(f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events) + "data: [DONE]\n\n"
                kind = "text/event-stream"
            else:
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}, ensure_ascii=False)
                kind = "application/json"
            encoded = data.encode()
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, *args) -> None:
            pass

    return Handler


UPSTREAM_REPLY = "条例施行的日期由第一条资料规定[1]，与之相关的还有[3]。"


@pytest.fixture(scope="module")
def upstream() -> Iterator[_Upstream]:
    server = _Upstream(("127.0.0.1", 0), _upstream_handler(UPSTREAM_REPLY))
    server.requests = []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


# --- real servers -------------------------------------------------------------------------------------


def _serve(rag_home: Path, *options: str, env: dict[str, str] | None = None):
    port = free_port()
    environ = {**os.environ, "RAG_HOME": str(rag_home), "PYTHONUNBUFFERED": "1", **(env or {})}
    for name in ("RAG_AUTH", "RAG_API_KEY", "RAG_LLM", "RAG_CONFIG"):
        if name not in (env or {}):
            environ.pop(name, None)
    command = [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), *options]
    return running_app(command, environ, port, rag_home / f"serve-api-{port}.log", STARTUP_SECONDS)


@pytest.fixture(scope="module")
def extractive_url(rag_home: Path, seed_index) -> Iterator[str]:
    """`rag serve --auth` over the session's default index: the extractive reader, the password as API key."""
    with _serve(rag_home, "--auth", f"{USER}:{PASSWORD}") as url:
        yield url.rstrip("/") + "/v1"


@pytest.fixture(scope="module")
def llm_url(rag_home: Path, seed_index, upstream) -> Iterator[str]:
    """`rag serve --llm openai:fake --llm-url <upstream>`, no login."""
    upstream_url = f"http://127.0.0.1:{upstream.server_address[1]}/v1"
    with _serve(rag_home, "--llm", "openai:fake", "--llm-url", upstream_url) as url:
        yield url.rstrip("/") + "/v1"


@pytest.fixture(scope="module")
def client(extractive_url) -> "openai.OpenAI":
    return openai.OpenAI(base_url=extractive_url, api_key=PASSWORD, max_retries=0, timeout=120)


def _extra(item, name: str):
    return (item.model_extra or {}).get(name)


@pytest.mark.slow
def test_models_and_a_plain_answer_with_references(client):
    assert [m.id for m in client.models.list()] == [DEFAULT_MODEL_ID]
    completion = client.chat.completions.create(model=DEFAULT_MODEL_ID, messages=[{"role": "user", "content": "条例什么时候施行？"}])
    message = completion.choices[0].message
    assert completion.object == "chat.completion" and completion.choices[0].finish_reason == "stop"
    assert "2026年1月1日" in message.content and "[1]" in message.content and "**来源**" in message.content
    refs = _extra(message, "references")
    assert refs[0]["law"] == LAW and refs[0]["article"] == "第五十一条" and refs[0]["quote"] in message.content
    assert set(refs[0]) == {"number", "law", "article", "label", "quote", "url", "score"}
    assert _extra(message, "stance") == "answered" and _extra(message, "backend") == "extractive"


@pytest.mark.slow
def test_a_streamed_answer_carries_the_same_text_and_references(client, extractive_url):
    question = [{"role": "user", "content": "数据中心用电有什么支持政策？"}]
    plain = client.chat.completions.create(model=DEFAULT_MODEL_ID, messages=question).choices[0].message
    chunks = list(client.chat.completions.create(model=DEFAULT_MODEL_ID, messages=question, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].choices[0].finish_reason == "stop"
    assert len(chunks) > 3 and all(c.object == "chat.completion.chunk" for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain.content
    final = chunks[-1].choices[0].delta
    assert _extra(final, "references") == _extra(plain, "references") and _extra(final, "stance") == "answered"

    # the same, browser-free: the raw server-sent events
    events = []
    headers = {"Authorization": f"Bearer {PASSWORD}"}
    body = {"model": DEFAULT_MODEL_ID, "messages": question, "stream": True}
    with httpx.stream("POST", f"{extractive_url}/chat/completions", json=body, headers=headers, timeout=120) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["choices"][0]["delta"]["references"] == _extra(plain, "references")


@pytest.mark.slow
def test_a_follow_up_is_rewritten_from_the_earlier_questions(client):
    messages = [
        {"role": "user", "content": "条例什么时候施行？"},
        {"role": "assistant", "content": "本条例自2026年1月1日起施行。[1]"},
        {"role": "user", "content": "那上一条呢？"},
    ]
    message = client.chat.completions.create(model=DEFAULT_MODEL_ID, messages=messages).choices[0].message
    assert "第五十条" in _extra(message, "rewritten_question")
    assert _extra(message, "references")[0]["article"] == "第五十条" and message.content.startswith("（理解为：")


@pytest.mark.slow
def test_an_off_topic_question_is_not_covered(client):
    message = client.chat.completions.create(model=DEFAULT_MODEL_ID, messages=[{"role": "user", "content": "离婚后孩子的抚养费怎么算？"}]).choices[0].message
    assert _extra(message, "stance") == "not_covered" and _extra(message, "references") == []
    assert "最接近的条文" in message.content


@pytest.mark.slow
def test_errors_come_in_openai_shape_with_chinese_messages(client, extractive_url):
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=DEFAULT_MODEL_ID, messages=[{"role": "assistant", "content": "你好"}])
    assert "最后一条消息应是用户" in bad.value.message and bad.value.status_code == 400
    with pytest.raises(openai.BadRequestError, match="问题为空"):
        client.chat.completions.create(model=DEFAULT_MODEL_ID, messages=[{"role": "user", "content": "   "}], stream=True)
    with pytest.raises(openai.NotFoundError, match="没有名为 gpt-4o 的模型"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "你好"}])
    anonymous = openai.OpenAI(base_url=extractive_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="API 密钥"):
        anonymous.models.list()
    response = httpx.post(f"{extractive_url}/chat/completions", content=b"{not json", headers={"Authorization": f"Bearer {PASSWORD}"})
    assert response.status_code == 400 and response.json()["error"]["message"] == "请求体不是有效的 JSON"


@pytest.mark.slow
def test_with_an_llm_the_settings_reach_it_and_its_text_streams(llm_url, upstream):
    client = openai.OpenAI(base_url=llm_url, api_key="unused", max_retries=0, timeout=120)
    question = [{"role": "user", "content": "条例什么时候施行？"}]
    plain = client.chat.completions.create(model=DEFAULT_MODEL_ID, messages=question, temperature=0.4, max_tokens=77).choices[0].message
    assert upstream.requests[-1]["temperature"] == 0.4 and upstream.requests[-1]["max_tokens"] == 77
    # the model reads the one article the reader quotes: its [3] is removed, and said so under the sources
    assert _extra(plain, "backend") == "openai:fake" and plain.content.startswith("条例施行的日期由第一条资料规定[1]，与之相关的还有。\n\n**来源**")
    assert plain.content.endswith("> 注意：语言模型引用了未提供的条文 [3]，这些标注已从回答中删除。")
    assert [(r["number"], r["article"]) for r in _extra(plain, "references")] == [(1, "第五十一条")]
    chunks = list(client.chat.completions.create(model=DEFAULT_MODEL_ID, messages=question, stream=True))
    assert upstream.requests[-1]["stream"] is True and upstream.requests[-1]["temperature"] == 0.0  # the server's default
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain.content
    assert _extra(chunks[-1].choices[0].delta, "references") == _extra(plain, "references")
    asked = len(upstream.requests)
    off_topic = client.chat.completions.create(model=DEFAULT_MODEL_ID, messages=[{"role": "user", "content": "离婚后孩子的抚养费怎么算？"}])
    assert _extra(off_topic.choices[0].message, "stance") == "not_covered" and len(upstream.requests) == asked  # not asked
