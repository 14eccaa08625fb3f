"""Test setup: no network, a private data directory and HF cache, and a tiny real build shared by the session."""

import os
import shutil
import tempfile
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="atlas-tests-"))
_SHARED_ENV = "ATLAS_TESTS_SHARED"
_OWNS_SHARED = _SHARED_ENV not in os.environ
# The run's shared folder: made by the first process (pytest-xdist's controller, or pytest alone) before workers
# start, and inherited by them through the environment.
if _OWNS_SHARED:
    os.environ[_SHARED_ENV] = tempfile.mkdtemp(prefix="atlas-shared-")
_SHARED = Path(os.environ[_SHARED_ENV])
# Set before anything imports huggingface_hub, which reads these at import time.
if os.environ.get("ATLAS_ONLINE_TESTS") != "1":
    os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_CACHE"] = str(_ROOT / "hf-cache")
os.environ["ATLAS_DATA_DIR"] = str(_ROOT / "data")
TEST_CATALOG = Path(__file__).parent / "fixtures" / "catalog.toml"
os.environ["ATLAS_CATALOG"] = str(TEST_CATALOG)
# Under pytest-xdist each worker is one process of several on the machine's cores: one thread each (and in the
# servers and commands they start), so that workers do not fight over cores.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

TINY_RELEASE = "tiny"


def _build_once() -> Path:
    """The tiny build, made once per run (the first worker to ask builds it; the others wait) in the shared folder."""
    from backend.core.files import locked
    from backend.pipeline.build import build_release
    from backend.sources.catalog import get_release, trained_from

    built, done = _SHARED / "tiny-data", _SHARED / "tiny-built"
    with locked(_SHARED / "tiny.lock"):
        if not done.exists():
            own = os.environ["ATLAS_DATA_DIR"]
            os.environ["ATLAS_DATA_DIR"] = str(built)
            try:
                release = get_release(TINY_RELEASE)
                for family in (release, *trained_from(release)):  # the Matryoshka family follows, as `build` runs it
                    build_release(family, "tiny", report=lambda *_: None)
            finally:
                os.environ["ATLAS_DATA_DIR"] = own
            done.touch()
    return built


def _copy_build(target: Path) -> None:
    """The tiny build copied into `target`, its converted model hard-linked: 514 MB that no test writes, which a
    copy per test made several GB of disk a run (CI's shared /tmp filled up)."""
    built = _build_once()
    models = built / "models"

    def link_models(source: str, destination: str) -> object:
        if Path(source).is_relative_to(models):
            Path(destination).unlink(missing_ok=True)  # never write through an earlier copy's link
            try:
                os.link(source, destination)
                return destination
            except OSError:  # another file system, or links not allowed: copy
                pass
        return shutil.copy2(source, destination)

    shutil.copytree(built, target, copy_function=link_models, dirs_exist_ok=True)


@pytest.fixture(scope="session")
def tiny_release() -> str:
    """The test catalog's release, built once per run with the real embedded model (tiny profile) and copied into
    this process's data directory. Tests that change its files take `tiny_copy` instead."""
    _copy_build(Path(os.environ["ATLAS_DATA_DIR"]))
    return TINY_RELEASE


@pytest.fixture
def tiny_copy(tiny_release: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The tiny release as built (not as earlier tests left it), in a data directory of this test's own, to change as
    it likes."""
    own = tmp_path / "data"
    _copy_build(own)
    monkeypatch.setenv("ATLAS_DATA_DIR", str(own))
    return tiny_release


@pytest.fixture
def tiny_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A private data dir, a tiny Llama saved as a local model folder, and a text corpus of its words."""
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path / "data"))
    from tests.backend.tiny_models import tiny_lm

    lm = tiny_lm("llama")
    model = tmp_path / "model"
    lm.model.save_pretrained(model)
    lm.tokenizer.save_pretrained(model)
    draw = torch.Generator().manual_seed(0)
    lines = [" ".join(f"w{int(i)}" for i in torch.randint(3, 50, (12,), generator=draw)) for _ in range(300)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines))
    return {"model": model, "corpus": corpus, "root": tmp_path}


@pytest.fixture
def data_dir() -> Path:
    return Path(os.environ["ATLAS_DATA_DIR"])


REAL_MODEL_FIXTURES = frozenset({"tiny_release"})
"""Fixtures that build with the real embedded model: a test that uses one, directly or through another fixture,
is `slow` (the fast tier, `scripts/test.sh --fast`, leaves it out)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_ROOT, ignore_errors=True)
    if _OWNS_SHARED:
        shutil.rmtree(_SHARED, ignore_errors=True)
