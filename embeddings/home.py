"""$RAG_HOME: where converted models, ONNX exports, the default index and feedback are kept."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """Where converted models and the default index live: $RAG_HOME, else ~/.cache/fagui-rag."""
    return Path(os.environ.get("RAG_HOME") or Path.home() / ".cache" / "fagui-rag")
