import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from backend.core.errors import SAEFormatError
from backend.models.formats import load_sae_dir, save_paper_meta, save_saelens
from backend.models.headers import mapped_decoder, outline_saelens, weights_complete
from backend.models.sae import SAE, SAEConfig


def random_sae(arch: str = "standard", k: int | None = None, d_in: int = 6, d_sae: int = 10) -> SAE:
    sae = SAE(
        SAEConfig(d_in=d_in, d_sae=d_sae, architecture=arch, k=k, hook_name="blocks.1.hook_resid_pre"),
        torch.device("cpu"),
    )  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in (sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec):
            p.copy_(torch.randn(p.shape, generator=gen))
        sae.threshold.fill_(0.3)
    return sae


@pytest.mark.parametrize("arch,k", [("standard", None), ("jumprelu", None), ("topk", 3), ("batchtopk", 3)])
def test_saelens_round_trip_encodes_identically(tmp_path: Path, arch: str, k: int | None) -> None:
    sae = random_sae(arch, k)
    save_saelens(sae, tmp_path, log10_density=torch.full((10,), -2.0))
    loaded = load_sae_dir(tmp_path)
    x = torch.randn(5, 6)
    assert torch.allclose(loaded.sae.encode(x), sae.encode(x))
    assert torch.allclose(loaded.sae(x), sae(x))
    assert loaded.sae.cfg.hook_name == "blocks.1.hook_resid_pre"
    assert loaded.log10_density is not None and loaded.layout == "saelens"


def write_saelens(folder: Path, cfg: dict, tensors: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cfg.json").write_text(json.dumps(cfg))
    save_file(tensors, str(folder / "sae_weights.safetensors"))


def tensors(d_in: int = 4, d_sae: int = 8) -> dict[str, torch.Tensor]:
    return {
        "W_enc": torch.randn(d_in, d_sae),
        "b_enc": torch.zeros(d_sae),
        "W_dec": torch.randn(d_sae, d_in),
        "b_dec": torch.zeros(d_in),
    }


def test_old_saelens_config_is_read(tmp_path: Path) -> None:
    cfg = {"d_in": 4, "d_sae": 8, "hook_point": "blocks.8.hook_resid_pre", "activation_fn_str": "topk",
           "activation_fn_kwargs": {"k": 2}, "model_name": "gpt2", "neuronpedia_id": "gpt2-small/8-res_fs8-jb"}  # fmt: skip
    write_saelens(tmp_path, cfg, tensors())
    sae = load_sae_dir(tmp_path).sae
    assert (sae.cfg.architecture, sae.cfg.k, sae.cfg.hook_name) == ("topk", 2, "blocks.8.hook_resid_pre")
    assert sae.cfg.neuronpedia_id == "gpt2-small/8-res_fs8-jb"


def test_saelens6_config_reads_metadata(tmp_path: Path) -> None:
    cfg = {
        "d_in": 4,
        "d_sae": 8,
        "architecture": "standard",
        "metadata": {"hook_name": "blocks.3.hook_resid_post", "context_size": 128},
    }
    write_saelens(tmp_path, cfg, tensors())
    assert load_sae_dir(tmp_path).sae.cfg.context_size == 128


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda t: t.pop("W_dec"), "no tensor 'W_dec'"),
        (lambda t: t.update(W_dec=torch.randn(8, 5)), "shape"),
        (lambda t: t.update(b_dec=torch.tensor([float("nan")] * 4)), "NaN"),
    ],
)
def test_inconsistent_weights_are_refused(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    t = tensors()
    mutate(t)
    write_saelens(tmp_path, {"d_in": 4, "d_sae": 8}, t)
    with pytest.raises(SAEFormatError, match=message):
        load_sae_dir(tmp_path)
    if message == "NaN":  # an outline reads no values: the SAE's own pages load it, and say so
        assert outline_saelens(tmp_path).cfg.d_sae == 8
    else:
        with pytest.raises(SAEFormatError, match=message):
            outline_saelens(tmp_path)


@pytest.mark.parametrize("arch,k", [("standard", None), ("topk", 3), ("jumprelu", None)])
def test_an_outline_is_what_loading_reads_without_the_weights(tmp_path: Path, arch: str, k: int | None) -> None:
    density = torch.linspace(-6, -1, 10)
    save_saelens(random_sae(arch, k), tmp_path, log10_density=density)
    outline, loaded = outline_saelens(tmp_path), load_sae_dir(tmp_path)
    assert outline.cfg == loaded.sae.cfg
    assert torch.equal(outline.log10_density, loaded.log10_density)
    weights = tmp_path / "sae_weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])
    with pytest.raises(SAEFormatError, match="shorter than its header"):
        outline_saelens(tmp_path)


def test_truncated_and_foreign_weight_files_are_refused_loaded_or_mapped(tmp_path: Path) -> None:
    write_saelens(tmp_path, {"d_in": 4, "d_sae": 8}, tensors())
    weights = tmp_path / "sae_weights.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[:-40])
    with pytest.raises(SAEFormatError, match="truncated"):
        mapped_decoder(tmp_path)
    weights.write_bytes(whole[:50])
    with pytest.raises(SAEFormatError, match="safetensors"):
        load_sae_dir(tmp_path)
    weights.write_text("this is not safetensors")
    with pytest.raises(SAEFormatError, match="safetensors"):
        load_sae_dir(tmp_path)
    with pytest.raises(SAEFormatError, match="no readable W_dec"):
        mapped_decoder(tmp_path)


def test_unknown_architecture_is_refused(tmp_path: Path) -> None:
    write_saelens(tmp_path, {"d_in": 4, "d_sae": 8, "architecture": "quantum"}, tensors())
    with pytest.raises(SAEFormatError, match="Unknown SAE architecture"):
        load_sae_dir(tmp_path)


def test_paper_meta_layout_uses_its_exact_encoder(tmp_path: Path) -> None:
    state = {
        "W_enc": torch.randn(4, 6),
        "b_enc": torch.full((6,), 5.0),
        "W_dec": torch.randn(6, 4),
        "b_dec": torch.randn(4),
    }
    torch.save(state, tmp_path / "SAE.pt")
    (tmp_path / "Config.json").write_text(json.dumps({"act_size": 4, "dict_size": 6, "top_k": 4, "sae_type": "topk"}))
    meta = load_sae_dir(tmp_path, threshold=0.153).sae
    x = torch.randn(3, 4)
    pre = torch.relu((x - state["b_dec"]) @ state["W_enc"])
    assert torch.allclose(meta.encode(x), pre * (pre > 0.153))


def test_paper_meta_round_trip_keeps_threshold_and_encoder_bias(tmp_path: Path) -> None:
    """A meta-SAE trained here (nonzero b_enc) reads back with the encoder it was trained and measured with."""
    sae = random_sae("jumprelu", d_in=4, d_sae=6)
    with torch.no_grad():
        sae.threshold.fill_(0.3)
        sae.b_enc.copy_(torch.linspace(-0.5, 0.5, 6))
    save_paper_meta(sae, tmp_path, {"threshold": 0.3, "top_k": 4})
    x = torch.randn(64, 4)
    assert torch.allclose(load_sae_dir(tmp_path).sae.encode(x), sae.encode(x))


class Exploit:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (Path(self.target), "pwned"))  # type: ignore[attr-defined]


def test_pickled_object_in_sae_pt_is_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    exploit = Exploit()
    exploit.target = str(marker)  # type: ignore[attr-defined]
    (tmp_path / "SAE.pt").write_bytes(pickle.dumps({"W_enc": exploit}))
    (tmp_path / "Config.json").write_text(json.dumps({"act_size": 4, "dict_size": 6, "threshold": 0.1}))
    with pytest.raises(SAEFormatError, match="refusing"):
        load_sae_dir(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_mapped_decoder_reads_the_saved_rows_and_never_writes_the_file(tmp_path: Path, dtype: torch.dtype) -> None:
    sae = random_sae(d_in=6, d_sae=10)
    save_saelens(sae, tmp_path)
    weights = tmp_path / "sae_weights.safetensors"
    if dtype != torch.float32:  # a published file may hold half-precision weights
        tensors = {n: getattr(sae, n).detach().to(dtype) for n in ("W_enc", "b_enc", "W_dec", "b_dec")}
        save_file(tensors, str(weights))
    before = weights.read_bytes()
    rows = mapped_decoder(tmp_path)
    assert rows.dtype == dtype and torch.equal(rows, sae.W_dec.detach().to(dtype))
    rows.mul_(0)
    assert weights.read_bytes() == before and torch.equal(mapped_decoder(tmp_path), sae.W_dec.detach().to(dtype))


def test_a_text_file_is_not_a_whole_weights_file(tmp_path: Path) -> None:
    save_saelens(random_sae(), tmp_path)
    assert weights_complete(tmp_path)
    (tmp_path / "sae_weights.safetensors").write_text("this is not safetensors")
    assert not weights_complete(tmp_path)
