"""A fast tokenizer for questions: the model's own Unigram vocabulary run by SentencePiece.

Loading an XLM-R ``tokenizer.json`` with the ``tokenizers`` package takes 1.2 s and 280 MB here (its
Unigram trie holds a hash map per node); the same 250k pieces and scores in a SentencePiece model load in
0.4 s and 55 MB. That is most of a fresh process's cost to answer one question, so questions use this
one and passages (index builds) keep the ``tokenizers`` original.

The SentencePiece model is derived once from ``tokenizer.json`` — pieces, scores, unknown and control
ids — with SentencePiece's own ``nmt_nfkc`` normalisation (the rule XLM-R's charsmap was compiled from;
SentencePiece 0.2 refuses the older compiled blob), written beside the ONNX export and kept only if it
gives the original's ids on every check text. Measured against the original on the lines of 600 law
files and the 1,190 STARD questions (86,098 texts): the same ids except for texts ending in white space
(the original keeps one ``▁``), texts that spell a special token (``<s>``) and one tie between
equal-scoring segmentations (``####``); with the query prefix, as questions are encoded, 0 of 86,080
differ. Texts of the first two kinds go to the original tokenizer, loaded on demand."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["QUERY_TOKENIZER_FILE", "QueryTokenizer", "write_query_tokenizer", "VERIFY_TEXTS"]

QUERY_TOKENIZER_FILE = "query_tokenizer.model"
_SPECIALS_FILE = "query_tokenizer.json"  # the special pieces' spellings and ids (reading them from the model is slow)
_REFUSED_FILE = "query_tokenizer.refused"  # written when the derived model disagreed: do not try again

# Checked at derivation, beside the export's own check texts: Chinese, English, digits, full-width forms,
# punctuation, mixed scripts, the prompts
VERIFY_TEXTS = (
    "query: 醉酒驾驶机动车会受到什么处罚？",
    "passage: 第一条　为了规范数据处理活动，保障数据安全，制定本条例。",
    "query: What does Article 12 of the regulation say?",
    "query: ＡＢＣ全角１２３，半角abc123；“引号”《书名号》（括号）【方括号】",
    "query: 2026年1月1日起施行，罚款5万元以上50万元以下",
    "query: 数据中心PUE值要达到1.3以下吗？IDC、5G、AI大模型",
    "query: 第十五条之一　第二款　（三）项",
    "query: 借钱不还怎么办 欠钱不还 起诉 律师费谁出",
    "query: Ça coûte combien? Größe; naïve café",
)


Tokenize = Callable[[Sequence[str]], list[list[int]]]


def _builtin_charsmap() -> bytes:
    """SentencePiece's compiled nmt_nfkc rule, as its trainer writes it into every model it makes."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    corpus = ["第一条 为了规范数据处理活动。", "the quick brown fox jumps over the lazy dog"] * 20
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_writer=buffer, vocab_size=60, model_type="unigram",
        normalization_rule_name="nmt_nfkc", hard_vocab_limit=False, minloglevel=2,
    )
    model = sentencepiece_model_pb2.ModelProto()
    model.ParseFromString(buffer.getvalue())
    return model.normalizer_spec.precompiled_charsmap


def _model_proto(tokenizer_json: dict, pad_token: str | None) -> tuple[bytes, dict] | None:
    """The SentencePiece model of a Unigram tokenizer.json with Metaspace pre-tokenization and
    <s> A </s> post-processing, with its special pieces' spellings and ids; None for any other kind."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    model, pre = tokenizer_json.get("model") or {}, tokenizer_json.get("pre_tokenizer") or {}
    template = (tokenizer_json.get("post_processor") or {}).get("single") or []
    specials = [part.get("SpecialToken", {}).get("id") for part in template]
    if model.get("type") != "Unigram" or model.get("byte_fallback") or pre.get("type") != "Metaspace":
        return None
    if specials != ["<s>", None, "</s>"]:
        return None
    control = {token["id"] for token in tokenizer_json.get("added_tokens", []) if token.get("special")}
    vocab = model["vocab"]
    ids = {piece: i for i, (piece, _) in enumerate(vocab)}
    proto = pb.ModelProto()
    for i, (piece, score) in enumerate(vocab):
        entry = proto.pieces.add()
        entry.piece, entry.score = piece, score
        entry.type = pb.ModelProto.SentencePiece.UNKNOWN if i == model["unk_id"] else pb.ModelProto.SentencePiece.CONTROL if i in control else pb.ModelProto.SentencePiece.NORMAL
    spec = proto.trainer_spec
    spec.model_type, spec.vocab_size = pb.TrainerSpec.UNIGRAM, len(vocab)
    spec.unk_id, spec.bos_id, spec.eos_id = model["unk_id"], ids["<s>"], ids["</s>"]
    spec.pad_id = ids.get(pad_token, 0) if pad_token else 0
    proto.normalizer_spec.name = "nmt_nfkc"
    proto.normalizer_spec.precompiled_charsmap = _builtin_charsmap()
    proto.normalizer_spec.add_dummy_prefix = pre.get("prepend_scheme", "always") != "never"
    proto.normalizer_spec.remove_extra_whitespaces = True
    specials = {"pieces": [vocab[i][0] for i in sorted(control | {model["unk_id"]})], "bos": spec.bos_id, "eos": spec.eos_id, "pad": spec.pad_id}
    return proto.SerializeToString(), specials


def write_query_tokenizer(
    tokenizer_file: Path, folder: Path, reference: Tokenize, check_texts: Sequence[str], max_length: int, pad_token: str | None
) -> bool:
    """Derive the SentencePiece model from tokenizer_file into folder/ if it gives `reference`'s ids on
    check_texts and VERIFY_TEXTS; else note the refusal there. Whether folder/ now holds one."""
    target, refused = folder / QUERY_TOKENIZER_FILE, folder / _REFUSED_FILE
    if target.is_file():
        return True
    if refused.is_file():
        return False
    try:
        import sentencepiece  # noqa: F401  (a declared dependency; without it questions use the original)

        derived = _model_proto(json.loads(tokenizer_file.read_text(encoding="utf-8")), pad_token)
    except (ImportError, OSError, ValueError, KeyError, RuntimeError):  # RuntimeError: SentencePiece's own
        return False
    texts = [*check_texts, *VERIFY_TEXTS]
    if derived is None or QueryTokenizer(*derived, max_length, reference).ids(texts) != reference(texts):
        _write(refused, b"")
        return False
    proto, specials = derived
    _write(folder / _SPECIALS_FILE, json.dumps(specials, ensure_ascii=False).encode("utf-8"))
    _write(target, proto)  # last: its presence says the derivation is complete
    return True


def _write(path: Path, data: bytes) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


class QueryTokenizer:
    """Ids of short texts, <s> … </s>, truncated to max_length like the original; texts the derived
    model may read differently (outer white space, a special token's spelling) go to `fallback`."""

    def __init__(self, proto: bytes, specials: dict, max_length: int, fallback: Tokenize):
        import sentencepiece as spm

        self.processor = spm.SentencePieceProcessor(model_proto=proto)
        self.bos, self.eos, self.pad_id = specials["bos"], specials["eos"], specials["pad"]
        self.specials = list(specials["pieces"])
        self.max_length = max_length
        self.fallback = fallback

    @classmethod
    def load(cls, folder: Path, max_length: int, fallback: Tokenize) -> QueryTokenizer | None:
        """The folder's derived tokenizer; None where there is none (or it cannot be read)."""
        path = folder / QUERY_TOKENIZER_FILE
        if not path.is_file():
            return None
        try:
            specials = json.loads((folder / _SPECIALS_FILE).read_text(encoding="utf-8"))
            return cls(path.read_bytes(), specials, max_length, fallback)
        except (ImportError, OSError, RuntimeError, ValueError, KeyError):
            return None

    def _plain(self, text: str) -> bool:
        return text == text.strip() and text != "" and not any(special in text for special in self.specials)

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        plain = [i for i, t in enumerate(texts) if self._plain(t)]
        other = sorted(set(range(len(texts))) - set(plain))
        result: list[list[int]] = [[] for _ in texts]
        for i, pieces in zip(plain, self.processor.encode([texts[i] for i in plain])):
            result[i] = [self.bos, *pieces[: self.max_length - 2], self.eos]
        if other:
            for i, ids in zip(other, self.fallback([texts[i] for i in other])):
                result[i] = ids
        return result
