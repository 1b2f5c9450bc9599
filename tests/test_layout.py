"""The package layout: stages import each other through their package surface only; the core imports no client."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("rag.ingest", "rag.index", "rag.retrieval", "rag.answering")
PACKAGES = ("rag", *STAGES, "embeddings", "eval", "ui")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    """Absolute names of the modules a file imports from (relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.append(".".join(base + ([node.module] if node.module else [])))
            else:
                found.append(node.module or "")
    return found


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


@pytest.mark.parametrize("client", ["eval", "ui"])
def test_the_core_imports_no_client(client):
    for path in _files("rag") + _files("embeddings"):
        bad = [name for name in _imports(path) if name == client or name.startswith(client + ".")]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_embeddings_do_not_import_rag():
    for path in _files("embeddings"):
        assert not [n for n in _imports(path) if n == "rag" or n.startswith("rag.")], path


def _stage_of(module: str) -> str | None:
    return next((stage for stage in STAGES if module == stage or module.startswith(stage + ".")), None)


def test_stages_and_clients_import_other_stages_through_their_surface():
    for package in ("rag", "eval", "ui", "embeddings"):
        for path in _files(package):
            own = _stage_of(_module_name(path))
            for name in _imports(path):
                stage = _stage_of(name)
                if stage and stage != own:
                    assert name == stage, f"{path.relative_to(ROOT)} imports {name}, not through {stage}"


@pytest.mark.parametrize("name", PACKAGES)
def test_every_package_says_its_stage_and_names_its_surface(name):
    package = importlib.import_module(name)
    assert package.__doc__ and package.__doc__.strip(), f"{name} has no docstring"
    assert package.__all__, f"{name} has no __all__"
    for public in package.__all__:
        assert hasattr(package, public), f"{name}.__all__ names {public}, which it lacks"


def test_the_public_names_of_rag_stay():
    import rag

    for public in ("answer", "retrieve", "answer_stream", "article", "Answer", "Hit", "Citation", "RagError", "build_index", "open_index"):
        assert public in rag.__all__ and hasattr(rag, public)
