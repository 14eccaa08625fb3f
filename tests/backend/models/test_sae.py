import pytest
import torch

from backend.core.errors import SAEFormatError
from backend.models.sae import SAE, SAEConfig


def make(arch: str, k: int | None = None) -> SAE:
    sae = SAE(SAEConfig(d_in=2, d_sae=3, architecture=arch, k=k), device=torch.device("cpu"))  # type: ignore[arg-type]
    with torch.no_grad():
        sae.W_enc.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]]))
        sae.b_enc.copy_(torch.tensor([0.0, -0.5, 0.0]))
        sae.W_dec.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
        sae.b_dec.copy_(torch.tensor([0.0, 0.0]))
        sae.threshold.fill_(0.8)
    return sae


X = torch.tensor([[1.0, 1.0], [0.5, 2.0]])
# pre-activations: [[1, 0.5, 1], [0.5, 1.5, -1]]


def test_standard_is_relu() -> None:
    assert torch.equal(make("standard").encode(X), torch.tensor([[1.0, 0.5, 1.0], [0.5, 1.5, 0.0]]))


def test_jumprelu_and_batchtopk_inference_use_threshold() -> None:
    expected = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.5, 0.0]])
    assert torch.equal(make("jumprelu").encode(X), expected)
    assert torch.equal(make("batchtopk", k=1).encode(X), expected)


def test_topk_keeps_k_per_token() -> None:
    acts = make("topk", k=1).encode(X)
    assert ((acts > 0).sum(dim=1) == 1).all()
    assert acts[1, 1] == 1.5


def test_forward_is_decode_of_encode() -> None:
    sae = make("standard")
    assert torch.allclose(sae(X), sae.decode(sae.encode(X)))
    assert torch.allclose(sae.decode(torch.tensor([[1.0, 0.0, 2.0]])), torch.tensor([[2.0, 1.0]]))


def test_b_dec_subtracted_from_input_when_configured() -> None:
    sae = make("standard")
    with torch.no_grad():
        sae.b_dec.fill_(1.0)
    assert torch.equal(sae.pre_acts(torch.ones(1, 2)), sae.b_enc.unsqueeze(0))


@pytest.mark.parametrize("arch,k", [("nonsense", None), ("topk", None), ("topk", 9)])
def test_bad_configs_are_refused(arch: str, k: int | None) -> None:
    with pytest.raises(SAEFormatError):
        SAEConfig(d_in=2, d_sae=3, architecture=arch, k=k)  # type: ignore[arg-type]


def test_unit_decoder_of_some_latents_equals_those_rows_of_the_whole() -> None:
    sae = SAE(SAEConfig(d_in=16, d_sae=64), device=torch.device("cpu"))
    with torch.no_grad():
        sae.W_dec.normal_().mul_(torch.linspace(0.1, 5, 64).unsqueeze(1))
        sae.W_dec[7] = 0
    whole = sae.unit_decoder()
    some = torch.tensor([7, 3, 63, 3])
    assert torch.equal(sae.unit_decoder(some), whole[some])
    assert torch.allclose(whole[3].norm(), torch.tensor(1.0)) and not whole[7].any()
