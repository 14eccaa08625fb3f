"""A lens is one module: a toy lens added to the list shows on the card's profile, in the family table and in the
export, with no other change."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest

from backend.cli import main
from backend.lenses import kinds
from backend.lenses.kinds import LENSES
from backend.lenses.lens import At, Badge, Lens
from backend.lenses.profile import family_lenses, latent_profiles, missing_lenses, profile_badges
from backend.models.headers import SAEOutline
from backend.models.loading import decoder_rows
from backend.pipeline.artifacts import release_lenses
from backend.sources.catalog import get_release


class DecoderNorm(Lens):
    """A toy: each latent's decoder row norm, and the family's mean."""

    name = "toy"
    needs = "Decoder norm: every SAE has one."
    columns: ClassVar[dict[str, Any]] = {"toy_norm": float("nan")}

    def fill(self, frame: pd.DataFrame, at: At) -> None:
        frame["toy_norm"] = decoder_rows(at.release, at.sae_id).norm(dim=1).numpy()

    def family(self, at: At, sae: SAEOutline) -> dict[str, float]:
        return {"toy_mean_norm": float(decoder_rows(at.release, at.sae_id)[: sae.cfg.d_sae].norm(dim=1).mean())}

    def badges(self, row: pd.Series, at: At) -> list[Badge]:
        return [(f"norm {row['toy_norm']:.2f}", "gray")]


@pytest.fixture
def toy() -> Iterator[Lens]:
    lens = DecoderNorm()
    LENSES.append(lens)
    try:
        yield lens
    finally:
        LENSES.remove(lens)


def test_a_toy_lens_shows_on_the_card_in_the_family_table_and_in_the_export(
    tiny_release: str, toy: Lens, tmp_path: Path
) -> None:
    release = get_release(tiny_release)
    stored = release_lenses(release)
    profile = latent_profiles(release, "64", stored)
    assert profile["toy_norm"].between(0.99, 1.01).all()
    assert ("toy", f"norm {profile.iloc[3]['toy_norm']:.2f}", "gray") in profile_badges(
        release, "64", profile.iloc[3], stored
    )
    assert family_lenses(release, stored)["toy_mean_norm"].notna().all()
    assert "toy" not in missing_lenses(release, "64", stored)
    out = tmp_path / "lenses.parquet"
    assert main(["export", "canonicality", "--release", tiny_release, "--sae", "64", "--format", "parquet",
                 "--out", str(out)]) == 0  # fmt: skip
    assert pd.read_parquet(out)["toy_norm"].notna().all()


def test_every_module_of_the_kinds_package_is_listed() -> None:
    modules = {p.stem for p in Path(kinds.__file__).parent.glob("*.py")} - {"__init__"}
    assert modules == {lens.__module__.rsplit(".", 1)[1] for lens in LENSES}
    assert len({lens.name for lens in LENSES}) == len(LENSES)
