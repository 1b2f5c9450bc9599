"""The web chat over the rag API: `rag serve` runs ui.app.serve(); tests build the page with build_app()."""

from __future__ import annotations

from typing import Any

__all__ = ["build_app", "serve"]


def __getattr__(name: str) -> Any:
    """Import ui.app (and gradio) only when the app is used, so ui.format and ui.feedback stay light."""
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'ui' has no attribute {name!r}")
