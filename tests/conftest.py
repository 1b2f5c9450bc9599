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
