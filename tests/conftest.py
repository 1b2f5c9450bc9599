import functools
import os
import re
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "data" / "laws" / "贵州省大数据发展应用促进条例.md"
LIBRARY = ROOT.parent / "shared" / "laws"


@pytest.fixture(scope="session")
def seed_path() -> Path:
    return SEED


@pytest.fixture(scope="session")
def library_path() -> Path:
    if not LIBRARY.is_dir():
        pytest.skip("../shared/laws is not available")
    return LIBRARY


@functools.lru_cache(maxsize=None)
def _library_titles(library: Path) -> dict[str, Path]:
    """title in the front matter → file, for the library's markdown files."""
    found: dict[str, Path] = {}
    for path in sorted(library.rglob("*.md")):
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(800)
        match = re.search(r"^title: (.+)$", head, re.MULTILINE)
        if match:
            found.setdefault(match.group(1).strip(), path)
    return found


@pytest.fixture(scope="session")
def library_law(library_path) -> Callable:
    """title → the parsed law of the library (the test is skipped when the library lacks it)."""
    from rag.ingest.laws import parse_law

    @functools.lru_cache(maxsize=None)
    def law(title: str):
        path = _library_titles(library_path).get(title)
        if path is None:
            pytest.skip(f"{title} is not in the library")
        return parse_law(path)

    return law


@pytest.fixture(scope="session", autouse=True)
def rag_home(tmp_path_factory) -> Path:
    """All state of the test session (converted model, default index, feedback) lives in a temp dir."""
    import os

    home = tmp_path_factory.mktemp("rag_home")
    previous = os.environ.get("RAG_HOME")
    os.environ["RAG_HOME"] = str(home)
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield home
    if previous is None:
        os.environ.pop("RAG_HOME", None)
    else:
        os.environ["RAG_HOME"] = previous


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Where the browser tests save what a person sees: $RAG_SCREENSHOTS (`RAG_SCREENSHOTS=docs make test` refreshes
    the README's pictures), else a temporary folder, so that a test run leaves the working tree as it was."""
    folder = Path(os.environ["RAG_SCREENSHOTS"]) if os.environ.get("RAG_SCREENSHOTS") else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def seed_index(rag_home):
    """The default index over the bundled law, built once per session."""
    from rag import get_index

    return get_index()


@pytest.fixture
def launched(monkeypatch) -> dict:
    """ui.app.serve without a server: build_app returns a demo whose launch() starts nothing. The dict collects
    what build_app was given and what launch() was called with."""
    import ui.app as app

    given: dict = {}

    class FakeDemo:
        def queue(self, **kwargs):
            return self

        def launch(self, **kwargs):
            given.update(kwargs)

    monkeypatch.setattr(app, "build_app", lambda index=None, **options: given.update(options) or FakeDemo())
    return given
