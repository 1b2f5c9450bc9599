"""Matplotlib for the eval and calibration plots: their labels are Chinese, so a CJK font must be found."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["chinese_labels"]

_CJK_FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei", "PingFang SC"]


def _register_cjk_fonts() -> bool:
    """Add the system's CJK fonts to matplotlib when its font cache predates them (a cache written before
    `make browser-deps` installed fonts-noto-cjk): the labels were drawn as empty boxes. False when the
    system has none."""
    from matplotlib import font_manager

    def known() -> bool:
        return bool({f.name for f in font_manager.fontManager.ttflist} & set(_CJK_FONTS))

    if not known():
        for path in font_manager.findSystemFonts():
            if "CJK" in Path(path).name:
                font_manager.fontManager.addfont(path)
    return known()


@contextmanager
def chinese_labels() -> Iterator[None]:
    """Draw figures made inside with a CJK font; one warning when the system has none (instead of one per glyph)."""
    import matplotlib

    if not _register_cjk_fonts():
        warnings.warn("没有找到中文字体，图中的中文会显示为方框；安装 fonts-noto-cjk（`make browser-deps`）后重新生成", stacklevel=3)
    with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": [*_CJK_FONTS, "DejaVu Sans"]}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield
