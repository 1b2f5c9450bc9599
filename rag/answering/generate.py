"""Generative answers from a bring-your-own local LLM, grounded in the retrieved articles.

Three backends: a GGUF model run in process by llama-cpp-python (llamacpp:NAME for a model installed with
`rag llm install`, or llamacpp:/path/to/model.gguf), a causal LM loaded with transformers (hub id or local
path), and any OpenAI-compatible HTTP endpoint (Ollama, vLLM, llama.cpp server, LM Studio). Which one, if
any, comes from an LLMConfig:
built from CLI options, environment variables (RAG_LLM, RAG_LLM_URL, …) and a TOML config file
($RAG_HOME/config.toml, RAG_CONFIG or --config), in that order of precedence.

The model sees the articles numbered [1]..[n] (rag/answering/prompts.py). Its answer is then checked: markers
pointing at articles that were not provided are removed and flagged, the rest renumbered in order of
appearance; an answer left without a valid citation is replaced by the extractive one. The model is only
asked when the extractive reader found articles that answer (stance answered): a question the laws do not
cover, or cover only in related articles, keeps the reader's answer. Streamed, the reply is checked as it
grows (stream_answer()), so what is shown carries the final numbering."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import threading
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Mapping, Protocol, Sequence, get_args

from embeddings.home import cache_dir

from ..errors import GenerationError
from ..records import Answer, Citation, Hit, Stance
from .prompts import build_messages

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BackendName",
    "LLMConfig",
    "LLM",
    "Backend",
    "TransformersBackend",
    "OpenAIBackend",
    "LlamaCppBackend",
    "cpu_threads",
    "CitationCheck",
    "DEFAULT_URL",
    "EXTRACTIVE",
    "ARTICLE_CHOICES",
    "model_articles",
    "asks_model",
    "LiveCheck",
    "config_path",
    "load_llm_config",
    "get_backend",
    "check_citations",
    "ground",
    "generate_answer",
    "stream_answer",
    "add_llm_options",
    "llm_config_from_options",
]

BackendName = Literal["transformers", "openai", "llamacpp"]
DEFAULT_URL = "http://127.0.0.1:11434/v1"  # Ollama's OpenAI-compatible endpoint
EXTRACTIVE = "extractive"  # the spec that asks for the extractive reader, overriding a configured LLM
# What the model reads (LLMConfig.articles): "cited", the articles the extractive reader quotes (a short prompt:
# docs/llm.md measured the first token 6-21 times sooner, and the small model cited every article it was given);
# "retrieved", all k retrieved articles
ARTICLE_CHOICES = ("cited", "retrieved")
Message = Mapping[str, str]


@dataclass(frozen=True)
class LLMConfig:
    """Which LLM answers and how; the API key itself is never stored, only the variable that holds it."""

    backend: BackendName
    model: str  # transformers: hub id or local directory; openai: the server's model name; llamacpp: a name or a .gguf path
    url: str = DEFAULT_URL  # base URL of an OpenAI-compatible API, ending in /v1
    api_key_env: str = "RAG_LLM_API_KEY"  # environment variable holding the API key (optional)
    max_new_tokens: int = 512
    temperature: float = 0.0  # 0: greedy decoding
    timeout: float = 120.0  # seconds the HTTP backend waits for the server
    device: str = "auto"  # transformers: auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, …
    context: int = 8192  # llamacpp: the context window in tokens (prompt and reply together)
    threads: int = 0  # llamacpp: CPU threads; 0: the cores this process may use
    articles: str = "cited"  # what the model reads: the articles the extractive reader quotes, or all "retrieved"

    def __post_init__(self) -> None:
        if self.backend not in get_args(BackendName):
            raise GenerationError(
                f"未知的语言模型后端 “{self.backend}”：应为 llamacpp、transformers 或 openai，例如 llamacpp:qwen2.5-coder-1.5b"
            )
        if not self.model.strip():
            raise GenerationError("没有指定语言模型：应写成 后端:模型，例如 transformers:Qwen/Qwen2.5-1.5B-Instruct")
        if self.max_new_tokens < 1:
            raise GenerationError(f"max_new_tokens 必须是正整数，收到 {self.max_new_tokens}")
        if self.temperature < 0:
            raise GenerationError(f"temperature 不能为负数，收到 {self.temperature:g}")
        if self.timeout <= 0:
            raise GenerationError(f"timeout 必须大于 0 秒，收到 {self.timeout:g}")
        if self.context < 512 or self.threads < 0:
            raise GenerationError(f"context 至少为 512、threads 不能为负数，收到 {self.context}、{self.threads}")
        if self.articles not in ARTICLE_CHOICES:
            raise GenerationError(f"articles 应为 {' 或 '.join(ARTICLE_CHOICES)}，收到 {self.articles!r}")

    @property
    def name(self) -> str:
        """backend:model, with a local model directory shortened to its name; Answer.backend shows it."""
        model = self.model
        if self.backend == "transformers" and Path(model).is_dir():
            model = Path(model).name
        elif self.backend == "llamacpp" and model.endswith(".gguf"):
            model = Path(model).name
        return f"{self.backend}:{model}"

    @property
    def model_key(self) -> LLMConfig:
        """The config with the per-call settings (max_new_tokens, temperature) at their defaults: configs that
        differ only in those share one loaded model."""
        return replace(self, max_new_tokens=LLMConfig.max_new_tokens, temperature=LLMConfig.temperature)


# The settings besides the model spec, by TOML key, with their type; the environment variable is RAG_LLM_<KEY>
_SETTINGS: dict[str, type] = {
    "url": str,
    "api_key_env": str,
    "max_new_tokens": int,
    "temperature": float,
    "timeout": float,
    "device": str,
    "context": int,
    "threads": int,
    "articles": str,
}


def config_path(path: str | Path | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """The config file: `path`, else $RAG_CONFIG, else config.toml in $RAG_HOME (~/.cache/fagui-rag)."""
    return Path(path or environ.get("RAG_CONFIG") or cache_dir() / "config.toml")


def _read_file(path: Path, required: bool) -> dict[str, tuple[Any, str]]:
    """The [llm] table of a TOML config file, each value with where it came from; {} when an optional file is absent."""
    if not path.is_file():
        if required:
            raise GenerationError(f"找不到配置文件：{path}")
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("llm", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise GenerationError(f"配置文件 {path} 不是有效的 TOML：{error}") from None
    if not isinstance(table, dict):
        raise GenerationError(f"配置文件 {path} 中的 llm 应是一个表：[llm] 下面逐行写 model = \"openai:模型名\" 等设置")
    unknown = sorted(set(table) - set(_SETTINGS) - {"model"})
    if unknown:
        raise GenerationError(f"配置文件 {path} 的 [llm] 中有未知的设置：{'、'.join(unknown)}；可用：model、{'、'.join(_SETTINGS)}")
    return {key: (value, f"配置文件 {path} 的 {key}") for key, value in table.items()}


def _read_environment(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """RAG_LLM and the RAG_LLM_<SETTING> variables that are set and not empty, each with its name."""
    names = {"model": "RAG_LLM", **{key: f"RAG_LLM_{key.upper()}" for key in _SETTINGS}}
    return {key: (environ[name], f"环境变量 {name}") for key, name in names.items() if environ.get(name, "").strip()}


def _convert(key: str, value: Any, source: str) -> Any:
    """The value as the type the setting needs; GenerationError naming where a bad value came from."""
    wanted = _SETTINGS.get(key, str)
    if isinstance(value, bool) or (wanted is str and not isinstance(value, str)):
        raise GenerationError(f"{source} 的值 {value!r} 类型不对")
    try:
        return wanted(value)
    except (TypeError, ValueError):
        raise GenerationError(f"{source} 的值 {value!r} 不是有效的{'整数' if wanted is int else '数值'}") from None


def load_llm_config(
    spec: str | None = None,
    *,
    url: str | None = None,
    max_new_tokens: int | None = None,
    temperature: float | None = None,
    config_file: str | Path | None = None,
    environ: Mapping[str, str] = os.environ,
) -> LLMConfig | None:
    """The configured LLM, or None for the extractive reader (nothing configured, or the spec "extractive").

    spec is backend:model, e.g. "transformers:Qwen/Qwen2.5-1.5B-Instruct" or "openai:qwen2.5:7b". Each
    setting comes from the arguments, else the environment (RAG_LLM, RAG_LLM_URL, RAG_LLM_MAX_NEW_TOKENS,
    RAG_LLM_TEMPERATURE, RAG_LLM_TIMEOUT, RAG_LLM_DEVICE, RAG_LLM_CONTEXT, RAG_LLM_THREADS, RAG_LLM_API_KEY_ENV),
    else the [llm] table of the
    config file (config_path()), else the LLMConfig default. A file named by config_file or RAG_CONFIG must exist."""
    required = bool(config_file or environ.get("RAG_CONFIG"))
    layered = _read_file(config_path(config_file, environ), required)
    layered |= _read_environment(environ)
    given = {"model": spec, "url": url, "max_new_tokens": max_new_tokens, "temperature": temperature}
    layered |= {key: (value, f"选项 {key}") for key, value in given.items() if value is not None}
    values = {key: _convert(key, value, source) for key, (value, source) in layered.items()}
    chosen = values.pop("model", "").strip()
    if not chosen or chosen == EXTRACTIVE:
        return None
    backend, colon, model = chosen.partition(":")
    if not colon:
        raise GenerationError(f"语言模型 “{chosen}” 应写成 后端:模型，例如 transformers:{chosen} 或 openai:{chosen}")
    return LLMConfig(backend=backend.strip(), model=model.strip(), **values)  # type: ignore[arg-type]


class Backend(Protocol):
    """A chat model: the whole reply at once, or its text in pieces as they are generated."""

    name: str

    def complete(self, messages: Sequence[Message]) -> str: ...

    def stream(self, messages: Sequence[Message]) -> Iterator[str]: ...


def _settings(config: LLMConfig, max_new_tokens: int | None, temperature: float | None) -> tuple[int, float]:
    """The per-call settings of the built-in backends: those given, else the config's."""
    return (max_new_tokens if max_new_tokens is not None else config.max_new_tokens,
            temperature if temperature is not None else config.temperature)


LLM = LLMConfig | str | Backend  # a config, a spec for load_llm_config(), or a ready backend


def _device(wanted: str) -> str:
    import torch

    if wanted != "auto":
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else "cpu"


def _model_source(model: str) -> str:
    """A hub id as it is, a local path with ~ expanded; GenerationError for a path that does not exist."""
    if not model.startswith(("/", ".", "~", "\\")) and ":" not in model:
        return model
    path = Path(model).expanduser()
    if not path.is_dir():
        raise GenerationError(f"找不到模型目录：{path}")
    return str(path)


class TransformersBackend:
    """A causal LM run in this process with transformers, prompted through its chat template."""

    def __init__(self, config: LLMConfig) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = config.name
        self.config = config
        self.device = _device(config.device)
        source = _model_source(config.model)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            dtype = torch.float32 if self.device == "cpu" else "auto"
            self.model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype).to(self.device).eval()
        except (OSError, ValueError) as error:
            raise GenerationError(
                f"无法加载语言模型 {config.model}：{error}\n请给出本地模型目录，或先在联网时把模型下载到 Hugging Face 缓存。"
            ) from error
        if not self.tokenizer.chat_template:
            raise GenerationError(f"模型 {config.model} 没有对话模板（chat_template），请使用它的 Instruct/Chat 版本。")

    def _inputs(self, messages: Sequence[Message]) -> dict[str, Any]:
        """Token ids of the (system, user) chat of build_messages(); law text cannot smuggle in control
        tokens. A template that rejects the system role gets the system text at the head of the user message."""
        from jinja2 import TemplateError

        options = {"add_generation_prompt": True, "return_tensors": "pt", "return_dict": True, "sanitize_control_tokens": True}
        try:
            encoded = self.tokenizer.apply_chat_template(list(messages), **options)
        except TemplateError:
            system, user = messages[0]["content"], messages[1]["content"]
            try:
                encoded = self.tokenizer.apply_chat_template([{"role": "user", "content": f"{system}\n\n{user}"}], **options)
            except TemplateError as error:
                raise GenerationError(f"模型 {self.name} 的对话模板无法使用：{error}") from error
        return {key: value.to(self.device) for key, value in encoded.items()}

    def _options(self, max_new_tokens: int | None = None, temperature: float | None = None) -> dict[str, Any]:
        tokens, temperature = _settings(self.config, max_new_tokens, temperature)
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        return {"max_new_tokens": tokens, "pad_token_id": pad, **sampling}

    def stream(self, messages: Sequence[Message], *, max_new_tokens: int | None = None, temperature: float | None = None) -> Iterator[str]:
        """The reply's text as it is generated, by model.generate() in a thread feeding a TextIteratorStreamer."""
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        arguments = {**self._inputs(messages), **self._options(max_new_tokens, temperature), "streamer": streamer}
        failures: list[Exception] = []

        def run() -> None:
            try:
                self.model.generate(**arguments)
            except Exception as error:  # reported to the reader of the stream below
                failures.append(error)
                streamer.end()

        thread = threading.Thread(target=run, name="rag-generate", daemon=True)
        thread.start()
        yield from (piece for piece in streamer if piece)
        thread.join()
        if failures:
            raise GenerationError(f"语言模型 {self.name} 生成失败：{failures[0]}") from failures[0]

    def complete(self, messages: Sequence[Message], *, max_new_tokens: int | None = None, temperature: float | None = None) -> str:
        return "".join(self.stream(messages, max_new_tokens=max_new_tokens, temperature=temperature))


class OpenAIBackend:
    """A model served over the OpenAI chat completions API (/v1/chat/completions), streamed as SSE or not."""

    def __init__(self, config: LLMConfig, environ: Mapping[str, str] = os.environ) -> None:
        import httpx

        self.name = config.name
        self.config = config
        key = environ.get(config.api_key_env, "")
        self._client = httpx.Client(
            base_url=config.url,
            timeout=config.timeout,
            headers={"Authorization": f"Bearer {key}"} if key else {},
        )

    def _payload(self, messages: Sequence[Message], stream: bool, max_new_tokens: int | None, temperature: float | None) -> dict[str, Any]:
        tokens, temperature = _settings(self.config, max_new_tokens, temperature)
        return {"model": self.config.model, "messages": list(messages), "max_tokens": tokens, "temperature": temperature, "stream": stream}

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn transport failures into GenerationError with a message for the user."""
        import httpx

        url = self.config.url
        try:
            yield
        except httpx.TimeoutException:
            raise GenerationError(
                f"语言模型服务 {url} 在 {self.config.timeout:g} 秒内没有响应。请稍后重试，或加大超时（RAG_LLM_TIMEOUT）。"
            ) from None
        except httpx.ConnectError:
            raise GenerationError(f"无法连接语言模型服务 {url}：请确认服务已经启动（例如 ollama serve）且地址正确。") from None
        except httpx.HTTPError as error:
            raise GenerationError(f"与语言模型服务 {url} 通信失败：{error}") from None

    def _check(self, response: httpx.Response) -> None:
        """GenerationError for an HTTP error status, saying what to check."""
        if response.is_success:
            return
        status = response.status_code
        if status in (401, 403):
            raise GenerationError(f"语言模型服务拒绝访问（HTTP {status}）：请在环境变量 {self.config.api_key_env} 中设置正确的 API 密钥。")
        if status == 404:
            raise GenerationError(
                f"语言模型服务找不到模型 {self.config.model} 或接口 {self.config.url}/chat/completions（HTTP 404）："
                "请检查模型名，以及地址是否以 /v1 结尾。"
            )
        raise GenerationError(f"语言模型服务出错（HTTP {status}）：{response.text[:300]}")

    def complete(self, messages: Sequence[Message], *, max_new_tokens: int | None = None, temperature: float | None = None) -> str:
        with self._errors():
            response = self._client.post("chat/completions", json=self._payload(messages, False, max_new_tokens, temperature))
            self._check(response)
            try:
                return response.json()["choices"][0]["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError):
                raise GenerationError(f"语言模型服务返回的数据无法解析：{response.text[:300]}") from None

    def stream(self, messages: Sequence[Message], *, max_new_tokens: int | None = None, temperature: float | None = None) -> Iterator[str]:
        """The reply's text pieces from the server-sent events, until data: [DONE]."""
        payload = self._payload(messages, True, max_new_tokens, temperature)
        with self._errors(), self._client.stream("POST", "chat/completions", json=payload) as response:
            if not response.is_success:
                response.read()
                self._check(response)
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line.removeprefix("data:").strip()
                if data == "[DONE]":
                    return
                piece = _delta(data)
                if piece:
                    yield piece


def _delta(data: str) -> str:
    """The text of one streamed chunk of a chat completion."""
    try:
        chunk = json.loads(data)
    except ValueError:
        chunk = None
    if not isinstance(chunk, dict):
        raise GenerationError(f"语言模型服务返回的数据无法解析：{data[:300]}")
    if "error" in chunk:
        raise GenerationError(f"语言模型服务出错：{str(chunk['error'])[:300]}")
    choices = chunk.get("choices") or [{}]
    return (choices[0].get("delta") or {}).get("content") or ""


def cpu_threads() -> int:
    """The CPU cores this process may run on (its affinity mask, e.g. a container's cpuset), else the count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _gguf_path(model: str) -> Path:
    """The GGUF file of a llamacpp: model: a name installed by `rag llm install`, or a path to a .gguf file."""
    from .llm_models import LOCAL_LLMS, installed_llm

    if model in LOCAL_LLMS:
        return installed_llm(model)
    path = Path(model).expanduser()
    if path.suffix.lower() != ".gguf" and not path.is_file():
        raise GenerationError(
            f"llamacpp:{model} 既不是已知的本地模型（{'、'.join(LOCAL_LLMS)}，rag llm list），也不是 .gguf 文件的路径"
        )
    if not path.is_file():
        raise GenerationError(f"找不到 GGUF 模型文件：{path}")
    return path


class LlamaCppBackend:
    """A GGUF chat model run in this process by llama-cpp-python, prompted through the chat template the file
    carries; one generation at a time (a llama.cpp context is not shared between threads)."""

    def __init__(self, config: LLMConfig) -> None:
        path = _gguf_path(config.model)
        try:
            from llama_cpp import Llama
        except ImportError:
            raise GenerationError(
                "llamacpp 后端需要 llama-cpp-python：请运行 make llm，或 .venv/bin/pip install -e '.[llm]'"
                "（从源码编译，2 核约 5 分钟）。"
            ) from None
        self.name = config.name
        self.config = config
        self.path = path
        self.threads = config.threads or cpu_threads()
        self._lock = threading.Lock()
        try:
            self.model = Llama(
                model_path=str(path),
                n_ctx=config.context,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                seed=0,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as error:
            raise GenerationError(f"无法加载 GGUF 模型 {path}：{error}") from error
        # freed before the interpreter tears llama_cpp down, or its __del__ prints a traceback at exit
        atexit.register(getattr(self.model, "close", lambda: None))

    def stream(self, messages: Sequence[Message], *, max_new_tokens: int | None = None, temperature: float | None = None) -> Iterator[str]:
        """The reply's text pieces as the model writes them (temperature 0: greedy)."""
        tokens, temperature = _settings(self.config, max_new_tokens, temperature)
        with self._lock:
            try:
                chunks = self.model.create_chat_completion(
                    messages=list(messages), max_tokens=tokens, temperature=temperature, seed=0, stream=True
                )
                for chunk in chunks:
                    piece = (chunk["choices"][0].get("delta") or {}).get("content")
                    if piece:
                        yield piece
            except ValueError as error:  # e.g. the prompt does not fit the context window
                raise GenerationError(
                    f"语言模型 {self.name} 无法生成：{error}。条文太长时可减少检索条文数（k），或加大 RAG_LLM_CONTEXT。"
                ) from error

    def complete(self, messages: Sequence[Message], *, max_new_tokens: int | None = None, temperature: float | None = None) -> str:
        return "".join(self.stream(messages, max_new_tokens=max_new_tokens, temperature=temperature))


@dataclass(frozen=True)
class _Tuned:
    """A shared loaded backend with one request's settings (max_new_tokens, temperature); other attributes
    are the backend's."""

    backend: Any
    config: LLMConfig

    @property
    def name(self) -> str:
        return self.config.name

    def complete(self, messages: Sequence[Message]) -> str:
        return self.backend.complete(messages, max_new_tokens=self.config.max_new_tokens, temperature=self.config.temperature)

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        return self.backend.stream(messages, max_new_tokens=self.config.max_new_tokens, temperature=self.config.temperature)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


_BACKENDS: dict[str, Callable[[LLMConfig], Any]] = {
    "transformers": TransformersBackend,
    "openai": OpenAIBackend,
    "llamacpp": LlamaCppBackend,
}
_backends: dict[LLMConfig, Any] = {}
_lock = threading.Lock()


def get_backend(llm: LLM) -> Backend | None:
    """The backend for a config or spec: its model is created once per process (configs that differ only in
    max_new_tokens or temperature share it, each call using its own settings); a Backend is returned as it
    is; None for the spec "extractive"."""
    if not isinstance(llm, (LLMConfig, str)):
        return llm
    config = load_llm_config(llm) if isinstance(llm, str) else llm
    if config is None:
        return None
    key = config.model_key
    with _lock:
        if key not in _backends:
            _backends[key] = _BACKENDS[config.backend](key)
        return _Tuned(_backends[key], config)


@dataclass(frozen=True)
class CitationCheck:
    """A model's answer with its citation markers checked against the n articles it was given."""

    text: str  # valid markers renumbered [1].. in order of first appearance; invalid ones removed
    sources: list[int]  # the article (1-based, as given to the model) that each new number stands for
    invalid: list[int]  # numbers cited that were not given, each once, in order of appearance


_THINKING = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)  # reasoning models' hidden thoughts
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)  # fenced or inline code: markers there are not citations
# A run of adjacent markers, each [n], 【n】 or ［n］ holding one number or several (1,2 / 1、2); n has at most 3 digits.
# Small models copy the prompt's wording into the marker: [编号1], [条文 2] count as [1], [2]
_LABEL = r"(?:编号|条文|来源|资料)?\s*"
_MARKERS = re.compile(rf"(?:[\[【［]\s*{_LABEL}\d{{1,3}}(?:\s*[,，、]\s*{_LABEL}\d{{1,3}})*\s*[\]】］])+")
_OPENERS = "[【［"
_MARKER_CHARS = 16  # an opening bracket this close to the end of a growing reply may still become a marker


def check_citations(text: str, count: int) -> CitationCheck:
    """Check every citation marker outside code against articles 1..count: keep and renumber valid ones,
    remove the others, collapse repeats within a run of markers ([1][1] → [1])."""
    numbering: dict[int, int] = {}
    invalid: list[int] = []

    def renumber(run: re.Match[str]) -> str:
        kept: list[int] = []
        for number in map(int, re.findall(r"\d+", run.group())):
            if not 1 <= number <= count:
                if number not in invalid:
                    invalid.append(number)
            elif (new := numbering.setdefault(number, len(numbering) + 1)) not in kept:
                kept.append(new)
        return "".join(f"[{n}]" for n in kept)

    parts: list[str] = []
    position = 0
    for code in _CODE.finditer(text):
        parts += [_MARKERS.sub(renumber, text[position : code.start()]), code.group()]
        position = code.end()
    parts.append(_MARKERS.sub(renumber, text[position:]))
    return CitationCheck("".join(parts), list(numbering), invalid)


def _citation(number: int, hit: Hit, extractive: Answer) -> Citation:
    """The citation of a hit; its quote is the extractive reader's quote of the same article, else the article."""
    quote = next((c.quote for c in extractive.citations if (c.doc_id, c.article) == (hit.doc_id, hit.article)), hit.text)
    return Citation.of(hit, number, quote)


class LiveCheck:
    """The checked text of a reply that is still being written: feed() each piece, get back what to show
    next. What it shows is always a prefix of check_citations() of the whole reply (stripped): markers
    already renumbered, invalid ones removed, hidden thoughts left out. A possible marker (or <think>) at the
    end is held back until it is complete, as is trailing white space; flush() gives the rest at the end.
    Where a later piece would change what was shown (an inline code span closed after a marker), it stops
    showing, and the grounded Answer's text is what counts."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.reply = ""
        self.shown = ""
        self.diverged = False

    def _checked(self, text: str) -> str:
        return check_citations(_THINKING.sub("", text), self.count).text.strip()

    def _stable(self) -> str:
        """The reply without an unfinished marker or <think> tag at its end."""
        text = self.reply
        opening = max(text.rfind(c) for c in _OPENERS)
        if opening >= 0 and len(text) - opening <= _MARKER_CHARS and not re.search(r"[\]】］]", text[opening:]):
            text = text[:opening]
        for cut in range(1, len("<think>")):
            if text.endswith("<think>"[:cut]):
                return text[:-cut]
        return text

    def _advance(self, checked: str) -> str:
        if self.diverged or not checked.startswith(self.shown):
            self.diverged = True
            return ""
        new, self.shown = checked[len(self.shown) :], checked
        return new

    def feed(self, piece: str) -> str:
        """Add a piece of the reply; the text to show after what was shown so far (often "")."""
        self.reply += piece
        return self._advance(self._checked(self._stable()))

    def flush(self) -> str:
        """The rest of the checked reply, once it is complete."""
        return self._advance(self._checked(self.reply))


def ground(reply: str, hits: Sequence[Hit], extractive: Answer, backend: str) -> Answer:
    """The Answer for a model's reply to build_messages(question, hits): citations checked and renumbered,
    or the extractive answer (fell_back) when no valid citation is left. `backend` names the model."""
    check = check_citations(_THINKING.sub("", reply), len(hits))
    warnings = list(extractive.warnings)
    if check.invalid:
        markers = "".join(f"[{n}]" for n in check.invalid)
        warnings.append(f"语言模型引用了未提供的条文 {markers}，这些标注已从回答中删除。")
    if not check.sources:
        warnings.append("语言模型的回答没有引用任何提供的条文，已改用摘录回答。")
        return replace(extractive, backend=backend, fell_back=True, warnings=warnings)
    if not re.search(r"\w\w", _MARKERS.sub("", check.text)):  # "[1] [2]": markers, no words (seen on 劳动合同法)
        warnings.append("语言模型的回答只有引用标注、没有内容，已改用摘录回答。")
        return replace(extractive, backend=backend, fell_back=True, warnings=warnings)
    citations = [_citation(number, hits[source - 1], extractive) for number, source in enumerate(check.sources, start=1)]
    return replace(extractive, text=check.text.strip(), citations=citations, backend=backend, warnings=warnings)


def model_articles(extractive: Answer, llm: LLM | None) -> list[Hit]:
    """The articles the model is given for an extractive answer: its passages that it quotes, in retrieval
    order (all its passages when it quotes none of them), or all its passages where the LLM's config says
    articles = "retrieved"."""
    config = load_llm_config(llm) if isinstance(llm, str) else llm
    which = getattr(config, "articles", None) or getattr(getattr(config, "config", None), "articles", "cited")
    if which == "retrieved":
        return list(extractive.passages)
    quoted = {(c.doc_id, c.article) for c in extractive.citations}
    return [h for h in extractive.passages if (h.doc_id, h.article) in quoted] or list(extractive.passages)


def asks_model(extractive: Answer) -> bool:
    """Whether the model is asked at all: only when the reader found articles that answer. A question the
    laws do not cover (not_covered) or cover only in related articles (related) keeps the reader's answer,
    decided before any model is called."""
    return extractive.stance == Stance.ANSWERED


def generate_answer(question: str, hits: Sequence[Hit], extractive: Answer, llm: LLM) -> Answer:
    """The LLM's answer to `question` from `hits`, grounded (see ground()); `extractive` is read(…, question,
    hits). Unless asks_model(extractive), the extractive answer is returned as it is, without calling the model."""
    if not asks_model(extractive):
        return extractive
    backend = get_backend(llm)
    if backend is None:
        return extractive
    return ground(backend.complete(build_messages(question, hits)), hits, extractive, backend.name)


def stream_answer(question: str, hits: Sequence[Hit], extractive: Answer, llm: LLM) -> Iterator[str | Answer]:
    """Like generate_answer(), streamed: the reply's text as the model writes it, already checked (LiveCheck:
    markers renumbered as in the final answer), then the grounded Answer. Joined, the pieces are the Answer's
    text unless the reply fell back to the extractive answer (or an inline code span changed a marker)."""
    if not asks_model(extractive) or (backend := get_backend(llm)) is None:
        yield extractive
        return
    live = LiveCheck(len(hits))
    for piece in backend.stream(build_messages(question, hits)):
        if shown := live.feed(piece):
            yield shown
    if rest := live.flush():
        yield rest
    yield ground(live.reply, hits, extractive, backend.name)


def add_llm_options(parser: argparse.ArgumentParser, *, configured: bool = True) -> None:
    """The --llm, --llm-url, --max-new-tokens and --temperature options (read by llm_config_from_options());
    `configured`: whether the command falls back to the LLM of RAG_LLM or the config file without --llm."""
    group = parser.add_argument_group("生成式回答（可选；默认为摘录回答）")
    group.add_argument(
        "--llm",
        metavar="BACKEND:MODEL",
        help="用语言模型生成回答：llamacpp:qwen2.5-coder-1.5b（rag llm install 安装的本地模型）或 llamacpp:某.gguf，"
        "transformers:模型目录或名称，或 openai:模型名（OpenAI 兼容服务，如 Ollama）；"
        f"{EXTRACTIVE} 表示摘录回答" + ("（默认：环境变量 RAG_LLM 或配置文件的设置）" if configured else ""),
    )
    group.add_argument("--llm-url", metavar="URL", help=f"OpenAI 兼容服务的地址，以 /v1 结尾（默认 {DEFAULT_URL}，即本机 Ollama）")
    group.add_argument("--max-new-tokens", type=int, metavar="N", help="最多生成的 token 数（默认 512）")
    group.add_argument("--temperature", type=float, metavar="T", help="采样温度，0 为贪心解码（默认 0）")


def llm_config_from_options(args: argparse.Namespace, config_file: str | Path | None = None) -> LLMConfig | None:
    """load_llm_config() with the options of add_llm_options()."""
    return load_llm_config(
        args.llm, url=args.llm_url, max_new_tokens=args.max_new_tokens, temperature=args.temperature, config_file=config_file
    )
