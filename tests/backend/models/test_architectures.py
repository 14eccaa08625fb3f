"""The architecture registry: every architecture named once, and a new one is one module's worth of code."""

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from backend.core.errors import IncompatibleError, SAEFormatError
from backend.models import architectures
from backend.models.architectures import ARCHITECTURES, Architecture, architecture
from backend.models.formats import load_sae_dir, save_saelens
from backend.models.sae import SAE, SAEConfig


class ScaledReLU(Architecture):
    """A toy: ReLU times a learned per-latent scale, a tensor no built-in architecture has."""

    name = "scaled_relu"
    summary = "ReLU times a per-latent scale"

    def tensors(self, d_in: int, d_sae: int) -> dict[str, tuple[int, ...]]:
        return {**super().tensors(d_in, d_sae), "scale": (d_sae,)}

    def activate(self, pre: Tensor, sae: SAE) -> Tensor:
        return torch.relu(pre) * sae.scale

    def config_fields(self, k: int | None) -> dict[str, Any]:
        return {"scaled": True}


def random_sae(cfg: SAEConfig) -> SAE:
    sae = SAE(cfg, device=torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in sae.state_dict().values():
            tensor.copy_(torch.rand(tensor.shape, generator=gen))
    return sae


def test_a_toy_architecture_round_trips_through_the_saelens_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ARCHITECTURES, ScaledReLU.name, ScaledReLU())
    sae = random_sae(SAEConfig(d_in=6, d_sae=10, architecture="scaled_relu"))
    save_saelens(sae, tmp_path)
    loaded = load_sae_dir(tmp_path).sae
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(1))
    assert loaded.cfg.architecture == "scaled_relu" and loaded.cfg.extra["scaled"] is True
    assert torch.equal(loaded.scale, sae.scale)
    assert torch.equal(loaded.encode(x), torch.relu(sae.pre_acts(x)) * sae.scale)


def test_a_weights_file_without_the_architectures_own_tensor_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import load_file, save_file

    monkeypatch.setitem(ARCHITECTURES, ScaledReLU.name, ScaledReLU())
    save_saelens(random_sae(SAEConfig(d_in=6, d_sae=10, architecture="scaled_relu")), tmp_path)
    weights = tmp_path / "sae_weights.safetensors"
    save_file({k: v for k, v in load_file(str(weights)).items() if k != "scale"}, str(weights))
    with pytest.raises(SAEFormatError, match="no tensor 'scale'"):
        load_sae_dir(tmp_path)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_built_in_architecture_round_trips_and_encodes_as_it_did(name: str, tmp_path: Path) -> None:
    arch = architecture(name)
    sae = random_sae(SAEConfig(d_in=6, d_sae=10, architecture=name, k=3 if arch.needs_k else None))
    save_saelens(sae, tmp_path)
    loaded = load_sae_dir(tmp_path).sae
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(1))
    assert loaded.cfg.architecture == (arch.saved_as or name)
    assert torch.equal(loaded.encode(x), sae.encode(x))


def test_every_module_of_the_package_is_registered() -> None:
    modules = {p.stem for p in Path(architectures.__file__).parent.glob("*.py")} - {"__init__", "base"}
    assert modules == set(ARCHITECTURES)


def test_an_unknown_name_lists_the_supported_ones() -> None:
    with pytest.raises(SAEFormatError, match="supported: standard, jumprelu, topk, batchtopk"):
        architecture("gated")


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_an_architecture_that_reads_each_latent_alone_encodes_as_its_firing_threshold_says(name: str) -> None:
    arch = architecture(name)
    cfg = SAEConfig(d_in=6, d_sae=10, architecture=name, k=3 if arch.needs_k else None)
    sae = random_sae(cfg)
    with torch.no_grad():
        sae.b_enc.sub_(1.0)  # some pre-activations negative, some under their threshold
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(2))
    elementwise = sae.elementwise_activation()
    if not arch.reads_each_latent:
        assert elementwise is None
        with pytest.raises(IncompatibleError, match="reads every latent"):
            cfg.prefix(4)
        return
    assert elementwise is not None
    pre = sae.pre_acts(x)
    assert torch.equal(elementwise.at(pre, torch.arange(10).expand(50, 10)), sae.encode(x))
    assert 0 < int((sae.encode(x) > 0).sum()) < 500
    assert cfg.prefix(4).d_sae == 4 and torch.equal(sae.prefix(4).encode(x), sae.encode(x)[:, :4])
