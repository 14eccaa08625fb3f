"""`add` reads one Matryoshka SAE as a family of its nested prefixes (widths from its cfg.json's `matryoshka_widths`,
or `--widths`): each prefix is an SAE of the family, and latent i reads the same at every width."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from backend.core.errors import AtlasError, StoreError
from backend.index.artifact import LatentIndex
from backend.index.cards import CardReader
from backend.models.formats import save_saelens
from backend.models.loading import load_sae
from backend.models.sae import SAE, SAEConfig
from backend.pipeline.add import add_release
from tests.backend.pipeline.test_add import request
from tests.backend.tiny_models import HOOK, saelens_folder


def matryoshka_folder(root: Path, model: Path, architecture: str = "jumprelu", widths: list[int] | None = None) -> Path:
    """A random JumpReLU SAE of 32 latents saved as SAELens saves a Matryoshka SAE, its widths in cfg.json."""
    torch.manual_seed(0)
    extra = {"matryoshka_widths": widths} if widths else {}
    cfg = SAEConfig(
        d_in=16, d_sae=32, architecture=architecture, k=4 if architecture == "topk" else None, hook_name=HOOK,
        model_name=f"local:{model}", context_size=16, extra=extra,
    )  # fmt: skip
    sae = SAE(cfg, torch.device("cpu"))
    with torch.no_grad():
        for weights in (sae.W_enc, sae.W_dec, sae.b_dec):
            weights.normal_()
        sae.threshold.fill_(0.5)
    save_saelens(sae, root / "matryoshka")
    return root / "matryoshka"


def test_a_matryoshka_sae_is_a_family_of_its_prefixes_that_read_each_latent_alike(tiny_world: dict[str, Path]) -> None:
    folder = matryoshka_folder(tiny_world["root"], tiny_world["model"], widths=[8, 16, 32])
    release = add_release(request(tiny_world, folder))
    assert release.sae_ids == ["8", "16", "32"] and [e.prefix for e in release.saes] == [8, 16, 32]
    assert "nested prefixes of 8, 16, 32 latents" in release.description
    whole = load_sae(release, "32").sae
    small = load_sae(release, "8").sae
    assert small.cfg.d_sae == 8 and torch.equal(small.W_dec, whole.W_dec[:8])
    x = torch.randn(50, 16)
    assert torch.allclose(small.encode(x), whole.encode(x)[:, :8], atol=1e-5)  # the same up to the matmul's rounding
    assert sorted(p.name for p in (release.paths.root / "index").iterdir()) == ["32"]  # one index for every width
    cards = {w: CardReader(LatentIndex.served(release, w).reader()) for w in ("8", "32")}
    for latent in range(8):
        narrow, wide = cards["8"].card(latent), cards["32"].card(latent)
        assert replace(narrow, neighbours=[]) == replace(wide, neighbours=[]), latent
        assert narrow.neighbours == [n for n in wide.neighbours if n[0] < 8], latent  # its nearest within the prefix
    assert len(cards["8"].labels) == 8 and len(cards["8"].index.table()) == 8
    with pytest.raises(StoreError, match="latents 0 to 7"):
        cards["8"].card(8)


def test_the_app_says_the_family_is_one_nested_dictionary(tiny_world: dict[str, Path]) -> None:
    from tests.pages.test_app import no_crash, run

    add_release(request(tiny_world, matryoshka_folder(tiny_world["root"], tiny_world["model"], widths=[8, 16, 32])))
    at = run(None, release="mine", sae="16")
    no_crash(at)
    assert any("SAE 16 is the first 16 latents of a Matryoshka SAE" in c.value for c in at.caption)
    at = run("stitching", release="mine")
    no_crash(at)
    assert any("nested prefixes of one Matryoshka SAE" in i.value for i in at.info)
    assert not any("differs from the paper" in i.value for i in at.info), "50% novel is by construction here"
    at = run("canonical", release="mine", sae="16")
    no_crash(at)
    assert any("nested prefixes of one Matryoshka SAE" in i.value for i in at.info)


def test_widths_given_on_the_command_line_make_prefixes_of_any_per_latent_sae(tiny_world: dict[str, Path]) -> None:
    folder = saelens_folder(tiny_world["root"], "relu", tiny_world["model"], 32)
    release = add_release(request(tiny_world, folder, widths=(8, 16)))
    assert release.sae_ids == ["8", "16", "32"]


def test_prefixes_of_a_top_k_sae_or_widths_that_do_not_nest_are_refused(tiny_world: dict[str, Path]) -> None:
    topk = matryoshka_folder(tiny_world["root"], tiny_world["model"], architecture="topk")
    with pytest.raises(AtlasError, match="A prefix of a topk SAE is not an SAE"):
        add_release(request(tiny_world, topk, widths=(8, 16)))
    relu = saelens_folder(tiny_world["root"], "relu", tiny_world["model"], 32)
    with pytest.raises(AtlasError, match=r"must increase from 1 to the SAE's 32 latents, got \[16, 8, 32\]"):
        add_release(request(tiny_world, relu, widths=(16, 8)))
