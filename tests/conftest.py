"""Test setup: no network, a private data directory and HF cache, and a tiny real build shared by the session."""

import os
import shutil
import tempfile
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="atlas-tests-"))
# Set before anything imports huggingface_hub, which reads these at import time.
if os.environ.get("ATLAS_ONLINE_TESTS") != "1":
    os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_CACHE"] = str(_ROOT / "hf-cache")
os.environ["ATLAS_DATA_DIR"] = str(_ROOT / "data")
TEST_CATALOG = Path(__file__).parent / "fixtures" / "catalog.toml"
os.environ["ATLAS_CATALOG"] = str(TEST_CATALOG)

import pytest  # noqa: E402

TINY_RELEASE = "tiny"


@pytest.fixture(scope="session")
def tiny_release() -> str:
    """The test catalog's release, built once per session with the real embedded model (tiny profile)."""
    from backend.pipeline.build import build_release
    from backend.sources.catalog import get_release

    build_release(get_release(TINY_RELEASE), "tiny", report=lambda *_: None)
    return TINY_RELEASE


@pytest.fixture
def data_dir() -> Path:
    return Path(os.environ["ATLAS_DATA_DIR"])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_ROOT, ignore_errors=True)
