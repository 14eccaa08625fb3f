"""Property tests: any cfg.json, weights file, Config.json or SAE.pt gives a loaded SAE or a SAEFormatError,
never another exception and never a large allocation (examples per target: see EXAMPLES)."""

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from backend.core.errors import SAEFormatError
from backend.models.formats import all_finite, load_sae_dir, save_saelens
from tests.backend.models.test_formats import random_sae

EXAMPLES = 150
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIELDS = ["d_in", "d_sae", "architecture", "k", "apply_b_dec_to_input", "normalize_activations", "metadata",
          "hook_name", "context_size", "expansion_factor", "activation_fn_str", "activation_fn_kwargs"]  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
configs = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=len(FIELDS))


def loads_or_refuses(folder: Path) -> None:
    try:
        loaded = load_sae_dir(folder)
    except SAEFormatError:
        return
    assert loaded.sae.cfg.d_in > 0 and loaded.sae.cfg.d_sae > 0


def good_folder(folder: Path) -> dict[str, Any]:
    save_saelens(random_sae(), folder)
    return dict(json.loads((folder / "cfg.json").read_text()))


@SETTINGS
@given(changes=configs)
def test_any_cfg_json_loads_or_is_refused(changes: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        raw = good_folder(folder)
        (folder / "cfg.json").write_text(json.dumps({**raw, **changes}, allow_nan=True))
        loads_or_refuses(folder)


@SETTINGS
@given(data=st.binary(max_size=400))
def test_any_bytes_as_cfg_json_or_weights_are_refused(data: bytes) -> None:
    for target in ("cfg.json", "sae_weights.safetensors"):
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            good_folder(folder)
            (folder / target).write_bytes(data)
            loads_or_refuses(folder)


@SETTINGS
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=4))
def test_byte_flips_in_the_weights_load_or_are_refused(flips: list[tuple[int, int]]) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        good_folder(folder)
        data = bytearray((folder / "sae_weights.safetensors").read_bytes())
        for position, xor in flips:
            data[position % len(data)] ^= xor
        (folder / "sae_weights.safetensors").write_bytes(bytes(data))
        loads_or_refuses(folder)


@SETTINGS
@given(config=st.dictionaries(st.sampled_from(["act_size", "dict_size", "threshold", "uses_b_enc"]), json_values),
       weights=st.binary(max_size=300) | st.just(b""))  # fmt: skip
def test_any_paper_meta_files_load_or_are_refused(config: dict[str, Any], weights: bytes) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "Config.json").write_text(json.dumps(config, allow_nan=True))
        if weights:
            (folder / "SAE.pt").write_bytes(weights)
        else:
            torch.save(
                {"W_enc": torch.zeros(4, 6), "W_dec": torch.zeros(6, 4), "b_dec": torch.zeros(4)}, folder / "SAE.pt"
            )
        loads_or_refuses(folder)


def test_a_huge_dict_size_is_refused_before_any_allocation(tmp_path: Path) -> None:
    torch.save({"W_enc": torch.zeros(4, 6), "W_dec": torch.zeros(6, 4), "b_dec": torch.zeros(4)}, tmp_path / "SAE.pt")
    (tmp_path / "Config.json").write_text(json.dumps({"act_size": 4, "dict_size": 10**12, "threshold": 0.1}))
    try:
        load_sae_dir(tmp_path)
    except SAEFormatError as err:
        assert "shape" in str(err)
    else:
        raise AssertionError("a Config.json claiming 10^12 latents must be refused")


@pytest.mark.parametrize(
    "w_enc", [torch.zeros(6, 10, 1), torch.zeros(6, 10, dtype=torch.int64), torch.zeros(10, 6)], ids=["3-d", "int", "T"]
)
def test_safetensors_with_wrong_dtypes_or_shapes_are_refused(tmp_path: Path, w_enc: torch.Tensor) -> None:
    raw = good_folder(tmp_path)
    save_file({"W_enc": w_enc, "b_enc": torch.zeros(10), "W_dec": torch.zeros(10, 6), "b_dec": torch.zeros(6)},
              str(tmp_path / "sae_weights.safetensors"))  # fmt: skip
    (tmp_path / "cfg.json").write_text(json.dumps(raw))
    with pytest.raises(SAEFormatError):
        load_sae_dir(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [({"k": "4", "architecture": "topk"}, "k must be"), ({"d_in": True}, "d_in must be"),
     ({"apply_b_dec_to_input": "false"}, "true or false"), ({"metadata": {"context_size": -5}}, "context_size")],
)  # fmt: skip
def test_wrongly_typed_fields_name_themselves(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    raw = good_folder(tmp_path)
    (tmp_path / "cfg.json").write_text(json.dumps({**raw, **change}))
    with pytest.raises(SAEFormatError, match=message):
        load_sae_dir(tmp_path)


def test_deeply_nested_binary_or_huge_configs_are_refused(tmp_path: Path) -> None:
    good_folder(tmp_path)
    for content in (b"[" * 100_000, b"\xff\xfe\x00binary", b" " * (2 << 20)):
        (tmp_path / "cfg.json").write_bytes(content)
        with pytest.raises(SAEFormatError):
            load_sae_dir(tmp_path)


def test_an_empty_sae_pt_is_refused_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "Config.json").write_text(json.dumps({"act_size": 4, "dict_size": 6, "threshold": 0.1}))
    (tmp_path / "SAE.pt").write_bytes(b"")
    with pytest.raises(SAEFormatError, match="refusing"):
        load_sae_dir(tmp_path)


@settings(max_examples=200, deadline=None)
@given(
    dtype=st.sampled_from([torch.float32, torch.float16, torch.bfloat16, torch.float64]),
    size=st.integers(1, 5000),
    data=st.data(),
)
def test_all_finite_finds_any_nan_or_infinity_wherever_it_is(
    dtype: torch.dtype, size: int, data: st.DataObject
) -> None:
    values = torch.randn(size, generator=torch.Generator().manual_seed(size)).to(dtype) * 100
    assert all_finite(values) and all_finite(values[:0])
    position = data.draw(st.integers(0, size - 1))
    for bad in (float("nan"), float("inf"), -float("inf")):
        spoiled = values.clone()
        spoiled[position] = bad
        assert not all_finite(spoiled), (bad, position)
