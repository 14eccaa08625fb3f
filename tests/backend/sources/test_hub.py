"""The Hub path runs real huggingface_hub code against a cache this test populates (HF_HUB_OFFLINE=1)."""

import os
from pathlib import Path

import pytest
import torch

from backend.core.errors import SourceUnavailable
from backend.models.formats import save_paper_meta, save_saelens
from backend.models.loading import load_meta_sae, load_sae
from backend.sources.catalog import parse_release
from backend.sources.hub import Location, fetch_file
from tests.backend.models.test_formats import random_sae

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def populate_cache(repo: str, files: dict[str, Path], revision: str = "main", repo_type: str = "model") -> None:
    """Lay out files exactly as huggingface_hub's cache does: blobs, a snapshot of links, a ref."""
    root = Path(os.environ["HF_HUB_CACHE"]) / f"{repo_type}s--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / COMMIT
    for name, source in files.items():
        blob = root / "blobs" / f"{abs(hash((repo, name))):x}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(source.read_bytes())
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / revision).write_text(COMMIT)


def hub_release() -> object:
    return parse_release(
        "hubtest",
        {
            "model": "gpt2",
            "hook": "blocks.1.hook_resid_pre",
            "source": {"kind": "hub", "repo": "someone/sae-family"},
            "saes": [{"id": "10", "path": "layer1_10"}],
            "meta_saes": [{"id": "m", "over": "10", "layout": "paper-meta", "threshold": 0.2,
                           "source": {"kind": "hub", "repo": "someone/meta"}}],
        },
    )  # fmt: skip


def test_sae_and_meta_load_from_the_hub_cache_offline(tmp_path: Path) -> None:
    sae = random_sae("standard")
    save_saelens(sae, tmp_path / "sae")
    populate_cache("someone/sae-family", {f"layer1_10/{f.name}": f for f in (tmp_path / "sae").iterdir()})
    meta = random_sae("jumprelu", d_in=6, d_sae=4)
    save_paper_meta(meta, tmp_path / "meta", {"top_k": 2})
    populate_cache("someone/meta", {f.name: f for f in (tmp_path / "meta").iterdir()})
    release = hub_release()
    loaded = load_sae(release, "10")  # type: ignore[arg-type]
    x = torch.randn(4, 6)
    assert torch.allclose(loaded.sae.encode(x), sae.encode(x))
    assert load_meta_sae(release, "m", loaded.sae).threshold[0].item() == pytest.approx(0.2)  # type: ignore[arg-type]


def test_offline_with_nothing_cached_names_the_repo_and_the_fix() -> None:
    with pytest.raises(SourceUnavailable, match=r"nobody/missing.*hf download nobody/missing"):
        fetch_file(Location("hub", repo="nobody/missing", path="sub"), "cfg.json")


def test_unknown_revision_is_unavailable_offline() -> None:
    with pytest.raises(SourceUnavailable, match="v9"):
        fetch_file(Location("hub", repo="someone/sae-family", revision="v9"), "cfg.json")


def test_invalid_repo_id_is_a_clear_error() -> None:
    with pytest.raises(SourceUnavailable, match="not a valid Hub repo id"):
        fetch_file(Location("hub", repo="../../etc/passwd"), "cfg.json")


def test_meta_sae_of_another_width_is_refused(tmp_path: Path) -> None:
    from backend.core.errors import IncompatibleError
    from backend.metasae.decompose import decompose_all

    with pytest.raises(IncompatibleError, match="width"):
        decompose_all(random_sae("jumprelu", d_in=5, d_sae=4), random_sae("standard"))
