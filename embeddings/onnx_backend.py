"""The ONNX Runtime backend of the Embedder: a sentence-transformers folder's Transformer exported once to
ONNX and verified against torch, run with the model's own ``tokenizers`` tokenizer, pooled in numpy.
A folder with Dense layers after its pooling (EmbeddingGemma: Pooling → Dense → Dense → Normalize) is
exported whole instead: the graph gives the sentence embedding (torch's dynamo exporter; the TorchScript
one fails on Gemma 3).

Exports live in ``<model folder>/onnx/`` when the model is a writable local folder, else in
``$RAG_HOME/onnx/``, one folder per embedder fingerprint (see ``Embedder._fingerprint``):

    <fingerprint>/model.onnx   input_ids, attention_mask -> last_hidden_state (opset 17, dynamic batch and
                               sequence axes), or -> sentence_embedding for a folder with Dense layers
                               (the dynamo exporter's opset); float32, or for an int8 fingerprint the
                               dynamic quantization of the float32 export
    <fingerprint>/meta.json    how it was made: versions, CPU features, cosine to the reference vectors

Each folder is written under a temporary name and renamed into place, so readers never see half of one.
Encoding with an existing export imports neither torch nor sentence-transformers; only ``export`` does."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from embeddings.query_tokenizer import QueryTokenizer, write_query_tokenizer

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "CHECK_TEXTS",
    "CPU_FEATURES",
    "MIN_COSINE",
    "OnnxEncoder",
    "OnnxUnavailable",
    "SentenceLayout",
    "cached_snapshot",
    "cpu_features",
    "export",
    "quantize",
    "read_layout",
]

OPSET = 17
MIN_COSINE = 0.9999  # an export whose vectors are further than this from torch's is refused
CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16")
_VNNI = {"avx512_vnni", "avx_vnni"}
MODEL_FILE = "model.onnx"
WEIGHTS_FILE = "model.onnx.data"  # the weights beside the graph: onnxruntime maps them instead of copying
LAYOUT = "mapped"  # exports are cached under <root>/LAYOUT/<fingerprint>; older single-file exports are not used
META_FILE = "meta.json"
SENTENCE_OUTPUT = "sentence_embedding"  # the output of whole-forward exports (folders with Dense layers)
_DYNAMO_FILE = "dynamo.onnx"  # the dynamo exporter's own output, re-saved as MODEL_FILE + WEIGHTS_FILE
_STALE_WORK_SECONDS = 3600  # work folders of killed exports are removed once they are this old

# Verification sentences: law text, a question, English, a truncated passage (longer than any max length)
CHECK_TEXTS = (
    "第一条　为了规范数据处理活动，保障数据安全，促进数据开发利用，保护个人、组织的合法权益，制定本条例。",
    "醉酒驾驶机动车怎么处罚？",
    "The contract shall be governed by the laws of the People's Republic of China.",
    "本条例自2026年1月1日起施行。",
    "有下列情形之一的，由有关主管部门责令改正，给予警告，没收违法所得；" * 40,
    "数据安全责任由谁负责？",
)
_POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
# Pooling configs written before sentence-transformers 6 name their modes with one flag each
_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


class OnnxUnavailable(RuntimeError):
    """Why the ONNX backend cannot encode for a model here; the Embedder then falls back, with a warning."""


def cpu_features() -> tuple[str, ...]:
    """Which of CPU_FEATURES this CPU has, from /proc/cpuinfo (none where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return ()
    return tuple(feature for feature in CPU_FEATURES if feature in flags)


@dataclass(frozen=True)
class SentenceLayout:
    """What a sentence-transformers folder says about encoding, read without sentence-transformers."""

    folder: Path
    tokenizer_file: Path
    pooling: tuple[str, ...]  # sentence-transformers pooling modes, concatenated in this order
    dim: int
    prompts: dict[str, str]
    lower_case: bool
    pad_token: str | None
    # The Dense modules after the pooling (their folders): when there are any, the export is the whole
    # sentence-transformers forward (output sentence_embedding) rather than the Transformer alone
    head: tuple[str, ...] = ()


def _json(path: Path, default: object = None):
    """A JSON file's content; default where the file is missing, if a default is given."""
    if default is not None and not path.is_file():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise OnnxUnavailable(f"无法读取 {path}：{error}") from error


def read_layout(folder: Path) -> SentenceLayout:
    """The layout of a Transformer + Pooling (+ Dense …) (+ Normalize) folder; OnnxUnavailable for any other."""
    modules = _json(folder / "modules.json")
    kinds = [str(module.get("type", "")).rsplit(".", 1)[-1] for module in modules]
    dense = kinds[2:-1] if kinds[-1:] == ["Normalize"] else kinds[2:]
    if kinds[:2] != ["Transformer", "Pooling"] or any(kind != "Dense" for kind in dense):
        raise OnnxUnavailable(f"只支持 Transformer + Pooling（+ Dense）（+ Normalize）结构的模型，{folder} 是 {' + '.join(kinds)}")
    head = tuple(module["path"] for module in modules[2 : 2 + len(dense)])
    transformer = folder / modules[0]["path"]
    pooling = _json(folder / modules[1]["path"] / "config.json")
    modes = pooling.get("pooling_mode") or [mode for key, mode in _LEGACY_POOLING.items() if pooling.get(key)] or "mean"
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    if not set(modes) <= set(_POOLING_MODES):
        raise OnnxUnavailable(f"不支持的池化方式 {modes}（{folder}）")
    tokenizer_file = transformer / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise OnnxUnavailable(f"{transformer} 没有 tokenizer.json")
    pad = _json(transformer / "tokenizer_config.json", {}).get("pad_token")
    prompts = _json(folder / "config_sentence_transformers.json", {}).get("prompts") or {}
    dim = len(modes) * int(pooling.get("embedding_dimension") or pooling.get("word_embedding_dimension") or 0)
    if head:
        dim = int(_json(folder / head[-1] / "config.json").get("out_features") or 0)
    return SentenceLayout(
        folder=folder,
        tokenizer_file=tokenizer_file,
        pooling=modes,
        dim=dim,
        prompts={name: text for name, text in prompts.items() if text is not None},
        lower_case=bool(_json(transformer / "sentence_bert_config.json", {}).get("do_lower_case", False)),
        pad_token=pad.get("content") if isinstance(pad, dict) else pad,
        head=head,
    )


def cached_snapshot(repo_id: str) -> Path:
    """The local copy of a model hub repository; never downloads (loading it with torch once does)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (OSError, ValueError) as error:
        raise OnnxUnavailable(f"{repo_id} 既不是本地目录，也不在模型缓存中：{error}") from error


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as error:
        raise OnnxUnavailable(f"没有安装 onnxruntime（{error}）") from error
    return onnxruntime


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _Tokenizer:
    """The model's tokenizer.json loaded with ``tokenizers``, truncated to max_seq_length: ids per text."""

    def __init__(self, layout: SentenceLayout, max_seq_length: int):
        from tokenizers import Tokenizer

        try:
            self.tokenizer = Tokenizer.from_file(str(layout.tokenizer_file))
        except Exception as error:  # tokenizers raises plain Exceptions
            raise OnnxUnavailable(f"无法加载 {layout.tokenizer_file}：{error}") from error
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_seq_length)
        self.pad_id = (self.tokenizer.token_to_id(layout.pad_token) if layout.pad_token else None) or 0

    def __call__(self, texts: Sequence[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]


def _batches(ids: list[list[int]], batch_size: int, pad_id: int) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
    """(rows of texts, input_ids, attention_mask) per batch of similar lengths, longest first, each
    padded to its own longest text."""
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = len(ids[rows[0]])
        input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for row, i in enumerate(rows):
            input_ids[row, : len(ids[i])] = ids[i]
            mask[row, : len(ids[i])] = 1
        yield rows, input_ids, mask


def _pool(hidden: np.ndarray, mask: np.ndarray, modes: tuple[str, ...]) -> np.ndarray:
    """sentence-transformers' Pooling on right-padded batches, in numpy."""
    weights = mask.astype(np.float32)
    lengths = np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    pooled = []
    for mode in modes:
        if mode == "cls":
            pooled.append(hidden[:, 0])
        elif mode == "max":
            pooled.append(np.where(mask[..., None] > 0, hidden, -np.inf).max(axis=1))
        elif mode == "mean":
            pooled.append(np.einsum("bsd,bs->bd", hidden, weights) / lengths)
        elif mode == "mean_sqrt_len_tokens":
            pooled.append(np.einsum("bsd,bs->bd", hidden, weights) / np.sqrt(lengths))
        elif mode == "weightedmean":
            positions = weights * np.arange(1, mask.shape[1] + 1, dtype=np.float32)
            pooled.append(np.einsum("bsd,bs->bd", hidden, positions) / positions.sum(axis=1, keepdims=True))
        else:  # lasttoken
            pooled.append(hidden[np.arange(len(hidden)), mask.sum(axis=1) - 1])
    return np.concatenate(pooled, axis=1).astype(np.float32, copy=False)


class OnnxEncoder:
    """Encodes texts with an export: tokenizer, onnxruntime on all available cores, numpy pooling (not
    normalised). Questions are tokenized by the export's query tokenizer where it has one (see
    query_tokenizer), passages by the model's tokenizer.json, loaded on first use."""

    def __init__(self, export_dir: Path, layout: SentenceLayout, max_seq_length: int):
        ort = _onnxruntime()
        self.layout = layout
        self.export_dir = export_dir
        self.max_seq_length = max_seq_length
        self._tokenizer: _Tokenizer | None = None
        self.queries = QueryTokenizer.load(export_dir, max_seq_length, self.tokenize)
        if self.queries is None and os.access(export_dir, os.W_OK):
            made = write_query_tokenizer(layout.tokenizer_file, export_dir, self.tokenize, CHECK_TEXTS, max_seq_length, layout.pad_token)
            if made:
                self.queries = QueryTokenizer.load(export_dir, max_seq_length, self.tokenize)
        options = ort.SessionOptions()
        options.intra_op_num_threads = _cores()
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: the cores are shared with retrieval and the language model,
        # and on 2 busy cores spinning was no faster (query p50 77 ms vs 83 ms)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(str(export_dir / MODEL_FILE), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime's errors derive from Exception only
            raise OnnxUnavailable(f"无法加载 {export_dir / MODEL_FILE}：{error}（删除该目录即可重新导出）") from error

    @property
    def tokenizer(self) -> _Tokenizer:
        """The model's own tokenizer.json, loaded on first use."""
        if self._tokenizer is None:
            self._tokenizer = _Tokenizer(self.layout, self.max_seq_length)
        return self._tokenizer

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenizer(texts)

    def encode(self, texts: Sequence[str], *, batch_size: int, queries: bool = False) -> np.ndarray:
        """One float32 row per text, in the order given."""
        texts = [t.lower() if self.layout.lower_case else t for t in texts]
        if queries and self.queries is not None:
            ids, pad_id = self.queries.ids(texts), self.queries.pad_id
        else:
            ids, pad_id = self.tokenizer(texts), self.tokenizer.pad_id
        vectors = np.empty((len(texts), self.layout.dim), dtype=np.float32)
        for rows, input_ids, mask in _batches(ids, batch_size, pad_id):
            if self.layout.head:  # the graph pools and applies the Dense layers itself
                (vectors[rows],) = self.session.run([SENTENCE_OUTPUT], {"input_ids": input_ids, "attention_mask": mask})
                continue
            (hidden,) = self.session.run(["last_hidden_state"], {"input_ids": input_ids, "attention_mask": mask})
            vectors[rows] = _pool(hidden, mask, self.layout.pooling)
        return vectors


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    return (a * (b / np.linalg.norm(b, axis=1, keepdims=True))).sum(axis=1)


def _check(encoder: OnnxEncoder, reference: np.ndarray) -> np.ndarray:
    """Cosines of the encoder's vectors of the check texts to the reference, batched (padded) and one by one."""
    batched = encoder.encode(CHECK_TEXTS, batch_size=len(CHECK_TEXTS))
    single = encoder.encode(CHECK_TEXTS, batch_size=1)
    return np.concatenate([_cosines(batched, reference), _cosines(single, reference)])


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A work folder beside target, renamed to target if the block succeeds and removed in any case."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for work in target.parent.glob(".*.tmp-*"):  # left by killed exports
        with contextlib.suppress(OSError):
            if time.time() - work.stat().st_mtime > _STALE_WORK_SECONDS:
                shutil.rmtree(work, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield work
        os.chmod(work, 0o755)  # mkdtemp's folder is private
        try:
            os.replace(work, target)
        except OSError:
            if not (target / MODEL_FILE).is_file():  # a concurrent export that finished first is fine
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _map_weights(folder: Path, source: str = MODEL_FILE) -> None:
    """Move the model's weights out of the graph file into WEIGHTS_FILE. onnxruntime then memory-maps
    them: a fresh process loads the float32 model in 0.3 s instead of 2.4 s, and only the embedding rows
    of tokens it meets become resident (148 MB instead of 894 MB peak, measured here). `source`: another
    graph file of folder to read (with its own external data, removed afterwards)."""
    import onnx

    model = onnx.load(str(folder / source))
    onnx.save_model(
        model, str(folder / MODEL_FILE), save_as_external_data=True, all_tensors_to_one_file=True, location=WEIGHTS_FILE, size_threshold=1024
    )
    if source != MODEL_FILE:
        for path in folder.glob(f"{source}*"):
            path.unlink()


def _write_meta(folder: Path, **meta: object) -> None:
    ort = _onnxruntime()
    meta |= {"onnxruntime": ort.__version__, "cpu_features": list(cpu_features()), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (folder / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _export_whole(model: SentenceTransformer, ids: np.ndarray, mask: np.ndarray, work: Path) -> int:
    """Export the whole sentence-transformers forward (Transformer, Pooling, Dense layers, Normalize) with
    torch's dynamo exporter to work/MODEL_FILE, weights mapped; the graph's opset."""
    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self, model: torch.nn.Module):
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model({"input_ids": input_ids, "attention_mask": attention_mask})[SENTENCE_OUTPUT]

    axes = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")}
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # the exporter's notes (torchvision missing…) go to torch's loggers
    try:
        with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # its notes on axis names and deprecations
            program = torch.onnx.export(
                SentenceEmbedding(model).eval(),
                (torch.from_numpy(ids), torch.from_numpy(mask)),
                dynamo=True,
                input_names=["input_ids", "attention_mask"],
                output_names=[SENTENCE_OUTPUT],
                dynamic_shapes={"input_ids": axes, "attention_mask": axes},
                verbose=False,
            )
            program.save(str(work / _DYNAMO_FILE), external_data=True)
    finally:
        logging.disable(previous)
    _map_weights(work, _DYNAMO_FILE)
    import onnx

    graph = onnx.load(str(work / MODEL_FILE), load_external_data=False)
    return next(entry.version for entry in graph.opset_import if entry.domain in ("", "ai.onnx"))


def _export_transformer(model: SentenceTransformer, ids: np.ndarray, mask: np.ndarray, work: Path) -> None:
    """Export the model's Transformer (input_ids, attention_mask -> last_hidden_state) to work/MODEL_FILE
    with the TorchScript exporter, opset OPSET."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    axes = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            LastHiddenState(model[0].auto_model).eval(),
            (torch.from_numpy(ids), torch.from_numpy(mask)),
            str(work / MODEL_FILE),
            dynamo=False,  # the torch.export-based exporter needs onnxscript and opset 18
            opset_version=OPSET,
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
        )


def export(model: SentenceTransformer, layout: SentenceLayout, target: Path, max_seq_length: int) -> None:
    """Export the model's Transformer to target/ (float32) and keep it only if, end to end (tokenizer, ONNX,
    pooling), its vectors of the check texts have cosine >= MIN_COSINE with model.encode's; else OnnxUnavailable.
    A folder with Dense layers (layout.head) is exported whole, with the dynamo exporter (_export_whole)."""
    import torch

    started = time.perf_counter()
    # Two texts of different lengths: the traced graph keeps the attention mask
    tokenizer = _Tokenizer(layout, max_seq_length)
    _, ids, mask = next(_batches(tokenizer(CHECK_TEXTS[:2]), 2, tokenizer.pad_id))
    with _staging(target) as work:
        opset, exporter = OPSET, "torchscript"
        try:
            if layout.head:
                opset, exporter = _export_whole(model, ids, mask, work), "dynamo"
            else:
                _export_transformer(model, ids, mask, work)
        except Exception as error:  # the exporter fails in many ways; each means "keep using torch"
            raise OnnxUnavailable(f"导出 ONNX 失败：{type(error).__name__}: {error}") from error
        if not layout.head:
            _map_weights(work)
        reference = model.encode(list(CHECK_TEXTS), batch_size=len(CHECK_TEXTS), convert_to_numpy=True, show_progress_bar=False)
        cosines = _check(OnnxEncoder(work, layout, max_seq_length), np.asarray(reference, dtype=np.float32))
        if cosines.min() < MIN_COSINE:
            raise OnnxUnavailable(f"ONNX 导出与 torch 的向量不一致（最小余弦 {cosines.min():.6f} < {MIN_COSINE}）")
        extra = {"exporter": exporter} if layout.head else {}  # exports of plain folders' meta as before
        _write_meta(
            work, precision="float32", model=str(layout.folder), opset=opset, torch=torch.__version__, **extra,
            min_cosine_to_torch=float(cosines.min()), seconds=round(time.perf_counter() - started, 1),
        )


def _gated_down_projections(model_file: Path) -> list[str]:
    """The MatMuls whose input is a gated activation, Mul(Gelu(gate), up): the down projections of GeGLU
    MLPs (Gemma's). Their inputs carry the large outliers Gemma's activations are known for, which a
    dynamic per-tensor int8 scale flattens."""
    import onnx

    graph = onnx.load(str(model_file), load_external_data=False).graph
    producer = {output: node for node in graph.node for output in node.output}

    def gated(name: str) -> bool:
        node = producer.get(name)
        return node is not None and node.op_type == "Mul" and any(
            getattr(producer.get(i), "op_type", "") in ("Gelu", "FastGelu") for i in node.input
        )

    return [node.name for node in graph.node if node.op_type == "MatMul" and node.input and gated(node.input[0])]


def quantize(source: Path, target: Path, layout: SentenceLayout, max_seq_length: int) -> None:
    """Dynamic int8 quantization of the float32 export in source/ into target/: int8 weights per channel,
    7-bit on x86 CPUs without VNNI (whose int8 kernels could saturate, as onnxruntime documents).
    Whole-forward exports (layout.head: EmbeddingGemma) quantize their MatMuls only, and keep float32 the
    embedding table (a Gather, memory-mapped anyway) and the GeGLU down projections: with both quantized
    EmbeddingGemma's vectors had cosine 0.93 to float32's on the check texts, without them 0.99."""
    ort = _onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    started = time.perf_counter()
    features = set(cpu_features())
    reduce_range = "avx2" in features and not features & _VNNI
    with _staging(target) as work:
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)  # quantize_dynamic's advice to pre-process goes to the root logger
        selective: dict = {}  # the arguments of whole-forward exports; plain exports' quantization as before
        try:
            if layout.head:
                selective = {"op_types_to_quantize": ["MatMul"], "nodes_to_exclude": _gated_down_projections(source / MODEL_FILE)}
            quantize_dynamic(
                source / MODEL_FILE, work / MODEL_FILE, per_channel=True, reduce_range=reduce_range, weight_type=QuantType.QInt8,
                **selective,
            )
        except Exception as error:  # onnx and onnxruntime errors derive from Exception only
            raise OnnxUnavailable(f"int8 量化失败（onnxruntime {ort.__version__}）：{error}") from error
        finally:
            logging.disable(previous)
        _map_weights(work)
        reference = OnnxEncoder(source, layout, max_seq_length).encode(CHECK_TEXTS, batch_size=len(CHECK_TEXTS))
        cosines = _check(OnnxEncoder(work, layout, max_seq_length), reference)
        _write_meta(
            work, precision="int8", model=str(layout.folder), quantized_from=source.name, per_channel=True,
            reduce_range=reduce_range, **({"kept_float32": ["Gather", *selective["nodes_to_exclude"]]} if selective else {}),
            min_cosine_to_float32=float(cosines.min()),
            mean_cosine_to_float32=float(cosines.mean()), seconds=round(time.perf_counter() - started, 1),
        )
