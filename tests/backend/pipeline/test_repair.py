"""The build owns what it trained: a deleted or truncated weights file of a family SAE, a second seed or a meta-SAE is
trained again by the next `build`, to the same weights (the same bytes in the SAELens layout; `torch.save` names its
archive after the temporary file it wrote, so the paper layout's bytes differ there)."""

import shutil
from pathlib import Path

import pytest
import torch

from backend.models.formats import PAPER_WEIGHTS, SAELENS_WEIGHTS, save_paper_meta, save_saelens
from backend.models.headers import weights_complete
from backend.models.sae import SAE, SAEConfig
from backend.pipeline.build import build_release
from backend.sources.catalog import get_release


def test_weights_complete_tells_whole_files_from_deleted_and_truncated_ones(tmp_path: Path) -> None:
    sae = SAE(SAEConfig(d_in=4, d_sae=8), device=torch.device("cpu"))
    save_saelens(sae, tmp_path / "saelens")
    save_paper_meta(sae, tmp_path / "paper", {"threshold": 0.1})
    for folder, name in ((tmp_path / "saelens", SAELENS_WEIGHTS), (tmp_path / "paper", PAPER_WEIGHTS)):
        assert weights_complete(folder)
        whole = (folder / name).read_bytes()
        (folder / name).write_bytes(whole[:-10])
        assert not weights_complete(folder)
        (folder / name).unlink()
        assert not weights_complete(folder)


@pytest.mark.parametrize(
    ("member", "damage"),
    [("64", "delete"), ("64-seed2", "truncate"), ("meta-128", "delete")],
)
def test_the_build_trains_a_damaged_member_again_to_the_same_weights(
    tiny_release: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, member: str, damage: str
) -> None:
    shutil.copytree(get_release(tiny_release).paths.root, tmp_path / "releases" / tiny_release)
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    release = get_release(tiny_release)
    entry = release.meta(member) if member.startswith("meta") else release.sae(member)
    weights = Path(entry.location.path) / (PAPER_WEIGHTS if member.startswith("meta") else SAELENS_WEIGHTS)
    whole = weights.read_bytes()
    before = torch.load(weights, weights_only=True) if member.startswith("meta") else None
    if damage == "delete":
        weights.unlink()
    else:
        weights.write_bytes(whole[: len(whole) // 2])
    assert build_release(release, "tiny", report=lambda *_: None)["complete"]
    if before is None:
        assert weights.read_bytes() == whole
    else:
        after = torch.load(weights, weights_only=True)
        assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
