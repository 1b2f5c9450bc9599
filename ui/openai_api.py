"""An OpenAI-compatible chat API under /v1, served by `rag serve` on the same port as the web page, so
that chat clients (Open WebUI, Cherry Studio, ChatBox, LobeChat) and the `openai` SDK can ask the laws.

- ``GET /v1/models``: one model id per library the server holds: ``fagui-rag`` for the bundled laws (or
  the one index of ``rag serve --index``), ``fagui-rag:NAME`` for each library of $RAG_HOME/libraries
  that holds laws (rag.library), listed as they are now.
- ``POST /v1/chat/completions``: the last user message is the question; the earlier user messages are the
  conversation, replayed through the extractive reader so that a follow-up is rewritten as in the chat
  ("那上一条呢？"). System and assistant messages are not read. Non-streamed, or streamed as server-sent
  events ending in ``data: [DONE]``. ``temperature`` and ``max_tokens`` go to the server's LLM when one is
  configured (RAG_LLM or ``rag serve --llm``); without one the extractive reader answers.
- The answer text keeps its inline [n] markers and, for a person reading it in a chat client, ends with
  the sources and their quoted text (``"references_in_content": false`` leaves them out). The message (and
  the final stream chunk's delta) adds ``references`` (number, law, article, quote, url, score), ``stance``
  (answered / related / not_covered), ``rewritten_question`` and ``backend``.
- Errors come in OpenAI's shape, ``{"error": {"message": "中文说明", "type": …, "code": …}}``, with the HTTP
  status. With a key configured (RAG_API_KEY, else the password of --auth / RAG_AUTH) every request needs
  ``Authorization: Bearer <key>``.

The routes are plain FastAPI routes handed to Gradio's app (build_routes()); they call the rag API only."""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.routing import BaseRoute

from rag import Answer, LLMConfig, answer, answer_stream
from rag import library as lib
from rag.errors import InvalidQuestion, RagError

from .format import stream_prefixes

__all__ = [
    "API_PREFIX",
    "DEFAULT_MODEL_ID",
    "ApiConfig",
    "ApiError",
    "ChatRequest",
    "api_key",
    "served_libraries",
    "parse_chat_request",
    "references",
    "answer_content",
    "build_routes",
]

log = logging.getLogger(__name__)

API_PREFIX = "/v1"
DEFAULT_MODEL_ID = "fagui-rag"
MAX_BODY_BYTES = 1 << 20  # a request body larger than this is refused (413)
MAX_EARLIER_TURNS = 10  # earlier user messages replayed for a follow-up (rag.api.MAX_HISTORY_TURNS)
CHECKED_NOTE = "\n\n——核对引用后的回答——\n\n"  # streamed before the final text where it differs from what streamed
INTERNAL_ERROR = "内部错误，未能回答这个问题，请稍后重试。"
_ENDPOINTS = {"/models": "GET", "/chat/completions": "POST"}


Libraries = Callable[[], Mapping[str, "str | Path | None"]]


def served_libraries(index: str | Path | None = None, root: str | Path | None = None) -> Libraries:
    """The model ids of a server and their indexes, read on each request: with an index (rag serve --index)
    that index alone as fagui-rag; without, the bundled laws' default index as fagui-rag and each library of
    root (default $RAG_HOME/libraries) that holds laws as fagui-rag:NAME."""

    def libraries() -> dict[str, str | Path | None]:
        if index is not None:
            return {DEFAULT_MODEL_ID: lib.open_library(index).index}
        found: dict[str, str | Path | None] = {DEFAULT_MODEL_ID: None}
        try:
            for library in lib.list_libraries(root):
                if (library.index / "CURRENT").is_file():
                    found[f"{DEFAULT_MODEL_ID}:{library.name}"] = library.index
        except RagError as error:
            log.warning("listing the libraries failed: %s", error)
        return found

    return libraries


@dataclass(frozen=True)
class ApiConfig:
    """What the API serves: model id → index directory (None: the default index), read on each request;
    the key it requires (None: none); the LLM that writes answers (None: the extractive reader); how many
    questions it answers at once (the rest wait)."""

    libraries: Libraries = field(default_factory=lambda: lambda: {DEFAULT_MODEL_ID: None})
    key: str | None = None
    llm: LLMConfig | None = None
    k: int = 5
    concurrency: int = 4


def api_key(auth: tuple[str, str] | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The key the API requires: RAG_API_KEY when set, else the password of the web page's login, else None."""
    return environ.get("RAG_API_KEY", "").strip() or (auth[1] if auth else None)


class ApiError(Exception):
    """A request the API refuses or cannot answer: HTTP status, Chinese message, OpenAI error type and code."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


@dataclass(frozen=True)
class ChatRequest:
    """A chat completion request as the API reads it."""

    model: str
    question: str
    earlier: tuple[str, ...] = ()  # the conversation's earlier user messages, oldest first
    stream: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    include_usage: bool = False
    references_in_content: bool = True


def _text(content: Any, where: str) -> str:
    """A message's content as text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or "type" not in part:
                raise ApiError(400, f"{where}的 content 应是文字，或由 {{\"type\": \"text\", \"text\": …}} 组成的列表", param="messages")
            if part["type"] == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    raise ApiError(400, f"{where}的 content 应是文字", param="messages")


def _number(body: Mapping[str, Any], name: str, low: float, high: float, integer: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or not low <= value <= high:
        kind = "整数" if integer else "数值"
        raise ApiError(400, f"{name} 应是 {low:g} 到 {high:g} 之间的{kind}，收到 {value!r}", param=name)
    return value


def parse_chat_request(body: Any, models: Sequence[str]) -> ChatRequest:
    """The request of a /v1/chat/completions body, or ApiError saying (in Chinese) what is wrong with it."""
    if not isinstance(body, dict):
        raise ApiError(400, "请求体应是一个 JSON 对象，例如 {\"model\": \"fagui-rag\", \"messages\": [{\"role\": \"user\", \"content\": \"……\"}]}")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ApiError(400, f"缺少 model：可用的模型是 {'、'.join(models)}", param="model")
    if model not in models:
        raise ApiError(404, f"没有名为 {model} 的模型；可用的模型是 {'、'.join(models)}", code="model_not_found", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages 应是非空的列表，最后一条是用户的问题", param="messages")
    asked: list[str] = []
    for position, message in enumerate(messages, start=1):
        where = f"第 {position} 条消息"
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ApiError(400, f"{where}应是带 role 与 content 的对象", param="messages")
        if message["role"] == "user":
            asked.append(_text(message.get("content"), where))
        else:
            _text(message.get("content"), where)
    if messages[-1].get("role") != "user":
        raise ApiError(400, "最后一条消息应是用户（role 为 user）的问题", param="messages")
    if (body.get("n") or 1) != 1:
        raise ApiError(400, "只支持 n = 1：每个请求一个回答", param="n")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise ApiError(400, "stream 应是 true 或 false", param="stream")
    tokens = _number(body, "max_completion_tokens", 1, 1 << 20, integer=True) or _number(body, "max_tokens", 1, 1 << 20, integer=True)
    options = body.get("stream_options") or {}
    in_content = body.get("references_in_content", True)
    if not isinstance(options, dict) or not isinstance(in_content, bool):
        raise ApiError(400, "stream_options 应是对象，references_in_content 应是 true 或 false")
    return ChatRequest(
        model=model,
        question=asked[-1],
        earlier=tuple(q for q in asked[:-1] if q.strip())[-MAX_EARLIER_TURNS:],
        stream=stream,
        temperature=_number(body, "temperature", 0, 2),
        max_tokens=tokens,
        include_usage=bool(options.get("include_usage")),
        references_in_content=in_content,
    )


def references(result: Answer) -> list[dict[str, Any]]:
    """The answer's citations as the API gives them: what each [n] of the text stands for."""
    return [
        {"number": c.number, "law": c.law, "article": c.article, "label": c.label, "quote": c.quote, "url": c.url,
         "score": round(float(c.score), 4)}
        for c in result.citations
    ]


def _blockquote(text: str) -> str:
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.strip().splitlines())


def sources_block(result: Answer) -> str:
    """The Markdown after the answer text: each cited article with its quoted text (so that a reader can
    check the answer), or, when the laws do not cover the question, the closest articles, titles only."""
    if result.abstained:
        lines = [f"{h.rank or i}. 《{h.law}》{h.article or '文件信息'}" for i, h in enumerate(result.passages, start=1)]
        return "**最接近的条文**（不能据此回答，仅供参考）\n\n" + "\n".join(lines) if lines else ""
    blocks = [f"[{c.number}] {c.label}\n{_blockquote(c.quote)}" for c in result.citations]
    return "**来源**\n\n" + "\n\n".join(blocks) if blocks else ""


def _notes(result: Answer) -> str:
    return "\n".join(f"> 注意：{w}" for w in result.warnings)


def answer_content(result: Answer, with_sources: bool = True, text: str | None = None) -> str:
    """The message content: the rewritten question (when a follow-up was rewritten), the answer text (or
    `text`, what was streamed of it), then the sources and warnings."""
    parts = [f"（理解为：{result.rewritten_question}）"] if result.rewritten_question else []
    parts.append(result.text if text is None else text)
    if with_sources:
        parts += [sources_block(result), _notes(result)]
    return "\n\n".join(p for p in parts if p)


def _extras(result: Answer) -> dict[str, Any]:
    return {
        "references": references(result),
        "stance": str(result.stance),
        "rewritten_question": result.rewritten_question,
        "backend": result.backend,
    }


def _usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}  # not counted


class _Service:
    """The request handlers over one ApiConfig."""

    def __init__(self, config: ApiConfig) -> None:
        self.config = config
        self.slots = threading.BoundedSemaphore(config.concurrency)

    def check_key(self, request: Request) -> None:
        if not self.config.key:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # header values arrive as latin-1: their bytes are compared with the key's UTF-8 bytes
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("latin-1", "replace"), self.config.key.encode()):
            raise ApiError(401, "缺少或错误的 API 密钥：请在请求头中写 Authorization: Bearer <密钥>（密钥见 rag serve 的设置）",
                           code="invalid_api_key")

    def models(self) -> dict[str, Any]:
        created = int(time.time())
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": created, "owned_by": "fagui-rag"} for m in self.config.libraries()],
        }

    def _llm(self, chat: ChatRequest) -> LLMConfig | None:
        llm = self.config.llm
        if llm is None:
            return None
        settings = {"temperature": chat.temperature, "max_new_tokens": chat.max_tokens}
        return replace(llm, **{k: v for k, v in settings.items() if v is not None})

    def _history(self, chat: ChatRequest, index: str | Path | None) -> list[Answer]:
        """The earlier user messages answered again by the extractive reader, each with the ones before it,
        as the history that a follow-up is rewritten from (a message that cannot be answered is skipped)."""
        history: list[Answer] = []
        for question in chat.earlier:
            try:
                history.append(answer(question, index=index, k=self.config.k, history=history))
            except InvalidQuestion:
                continue
        return history

    def complete(self, chat: ChatRequest, index: str | Path | None) -> dict[str, Any]:
        with self.slots:
            result = answer(chat.question, index=index, k=self.config.k, history=self._history(chat, index), llm=self._llm(chat))
        message = {"role": "assistant", "content": answer_content(result, chat.references_in_content), **_extras(result)}
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": chat.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "usage": _usage(),
        }

    def stream(self, chat: ChatRequest, index: str | Path | None) -> Iterator[str | Answer]:
        """The answer's pieces (rag.answer_stream), computed up to the first piece before the response starts,
        so that a bad question is an HTTP error rather than an error event."""
        self.slots.acquire()
        try:
            pieces = answer_stream(chat.question, index=index, k=self.config.k, history=self._history(chat, index), llm=self._llm(chat))
            first = next(pieces)
        except BaseException:
            self.slots.release()
            raise

        def rest() -> Iterator[str | Answer]:
            try:
                yield first
                yield from pieces
            finally:
                self.slots.release()

        return rest()

    def events(self, chat: ChatRequest, pieces: Iterator[str | Answer]) -> Iterator[str]:
        """Server-sent events of a streamed completion: the role; the LLM's checked text as it comes (or an
        extractive answer's whole content in a few pieces); then the sources; a final chunk with finish_reason
        and the references and stance; then [DONE]. An error after the start is an error event."""
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()), "model": chat.model}

        def event(delta: dict[str, Any], finish: str | None = None) -> str:
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
            return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

        yield event({"role": "assistant", "content": ""})
        streamed = ""
        try:
            for piece in pieces:
                if isinstance(piece, str):
                    streamed += piece
                    yield event({"content": piece})
                    continue
                result = piece
                if not streamed:  # nothing was generated (the extractive reader): the whole content, in pieces
                    shown = ""
                    for prefix in stream_prefixes(answer_content(result, chat.references_in_content), pieces=12):
                        yield event({"content": prefix[len(shown) :]})
                        shown = prefix
                else:
                    tail = [CHECKED_NOTE.strip() + "\n\n" + result.text] if streamed.strip() != result.text else []
                    if result.rewritten_question:
                        tail.append(f"（理解为：{result.rewritten_question}）")
                    if chat.references_in_content:
                        tail += [sources_block(result), _notes(result)]
                    if any(tail):
                        yield event({"content": "\n\n" + "\n\n".join(t for t in tail if t)})
                yield event(_extras(result), "stop")
                if chat.include_usage:
                    yield f"data: {json.dumps({**base, 'choices': [], 'usage': _usage()}, ensure_ascii=False)}\n\n"
        except RagError as error:
            yield f"data: {json.dumps(ApiError(500, str(error), 'server_error').body(), ensure_ascii=False)}\n\n"
        except Exception:
            log.exception("streaming an answer to %r failed", chat.question)
            yield f"data: {json.dumps(ApiError(500, INTERNAL_ERROR, 'server_error').body(), ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"


async def _body(request: Request) -> Any:
    """The request's JSON body; ApiError for one too large or not JSON."""
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > MAX_BODY_BYTES:
        raise ApiError(413, f"请求体过大（超过 {MAX_BODY_BYTES // 1024} KB）")
    data = await request.body()
    if len(data) > MAX_BODY_BYTES:
        raise ApiError(413, f"请求体过大（超过 {MAX_BODY_BYTES // 1024} KB）")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "请求体不是有效的 JSON") from None


def _failure(error: Exception) -> ApiError:
    """The ApiError for an exception raised while answering."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, InvalidQuestion):
        return ApiError(400, str(error), param="messages")
    if isinstance(error, RagError):
        return ApiError(500, str(error), "server_error")
    log.exception("answering through the API failed", exc_info=error)
    return ApiError(500, INTERNAL_ERROR, "server_error")


def build_routes(config: ApiConfig) -> list[BaseRoute]:
    """The /v1 routes over `config`, to hand to the web app (FastAPI(routes=…)) ahead of Gradio's own."""
    from starlette.concurrency import run_in_threadpool

    service = _Service(config)
    router = APIRouter(prefix=API_PREFIX)

    @router.get("/models")
    def list_models(request: Request) -> JSONResponse:
        try:
            service.check_key(request)
        except ApiError as error:
            return error.response()
        return JSONResponse(service.models())

    @router.get("/models/{model}")
    def get_model(model: str, request: Request) -> JSONResponse:
        try:
            service.check_key(request)
            found = [m for m in service.models()["data"] if m["id"] == model]
            if not found:
                raise ApiError(404, f"没有名为 {model} 的模型；可用的模型是 {'、'.join(config.libraries())}", code="model_not_found")
        except ApiError as error:
            return error.response()
        return JSONResponse(found[0])

    @router.post("/chat/completions")
    async def chat_completions(request: Request) -> Any:
        try:
            service.check_key(request)
            libraries = await run_in_threadpool(config.libraries)
            chat = parse_chat_request(await _body(request), list(libraries))
            if not chat.stream:
                return JSONResponse(await run_in_threadpool(service.complete, chat, libraries[chat.model]))
            pieces = await run_in_threadpool(service.stream, chat, libraries[chat.model])
        except Exception as error:
            return _failure(error).response()
        return StreamingResponse(
            service.events(chat, pieces), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )

    @router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def elsewhere(path: str, request: Request) -> JSONResponse:
        method = _ENDPOINTS.get("/" + path.strip("/"))
        if method:
            return ApiError(405, f"{API_PREFIX}/{path.strip('/')} 只接受 {method} 请求", code="method_not_allowed").response()
        return ApiError(404, f"没有这个接口：{API_PREFIX}/{path}；可用的是 GET {API_PREFIX}/models 与 POST {API_PREFIX}/chat/completions",
                        code="not_found").response()

    return list(router.routes)
