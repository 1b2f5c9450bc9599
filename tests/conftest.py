from pathlib import Path

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
def seed_index(rag_home):
    """The default index over the bundled law, built once per session."""
    from rag import get_index

    return get_index()
