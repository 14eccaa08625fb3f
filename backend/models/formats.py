"""Reading and writing SAEs on disk: the SAELens layout and the paper's meta-SAE layout.

SAELens: `cfg.json` + `sae_weights.safetensors` (+ optional `sparsity.safetensors`, log10 density).
Paper meta-SAE: `Config.json` + `SAE.pt`, a pickled state dict of plain tensors, read with
`torch.load(weights_only=True)` so that no arbitrary object is ever unpickled.
Reading what the files say without loading the tensors (headers, outlines, mapped decoders): backend/models/headers.py.
"""

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from backend.core.errors import SAEFormatError, first_line
from backend.core.files import atomic_path, write_json_atomic
from backend.models.architectures import architecture
from backend.models.sae import SAE, SAEConfig

SAELENS_CFG = "cfg.json"
SAELENS_WEIGHTS = "sae_weights.safetensors"
SAELENS_SPARSITY = "sparsity.safetensors"
PAPER_CFG = "Config.json"
PAPER_WEIGHTS = "SAE.pt"
_SAELENS_KNOWN = {
    "d_in", "d_sae", "architecture", "k", "apply_b_dec_to_input", "normalize_activations",
    "metadata", "hook_name", "hook_point", "model_name", "context_size", "neuronpedia_id",
    "activation_fn_str", "activation_fn_kwargs", "expansion_factor",
}  # fmt: skip


METRICS = "metrics.json"
"""What a build measured of an SAE or meta-SAE it trained, beside its weights."""


PREFIXES = "prefixes"
"""The metrics of a Matryoshka SAE's listed prefixes, by width, beside its own."""


def read_metrics(folder: Path, prefix: int | None = None) -> dict[str, Any] | None:
    """The metrics a build wrote beside a member it trained, those of its first `prefix` latents when given (None
    when there are none or they are unreadable)."""
    try:
        raw = json.loads((folder / METRICS).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(raw, dict):
        return None
    own = raw.pop(PREFIXES, None)
    if prefix is None or not isinstance(own, dict) or str(prefix) not in own:
        return raw
    found = own[str(prefix)]
    return {**found, "train_tokens": raw.get("train_tokens")} if isinstance(found, dict) else None


DENSITY_FLOOR = 1e-10
"""`sparsity.safetensors` holds log10(density) with densities clamped to this, so a latent that never fired reads
as -10, not -inf."""
DEAD_LOG10_DENSITY = -9.0
"""At or below this log10(density) a latent is dead (never fired where density was measured)."""


def log10_density(density: Tensor) -> Tensor:
    """`[d_sae]` fractions of tokens each latent fires on -> what `sparsity.safetensors` stores."""
    return torch.log10(density.clamp_min(DENSITY_FLOOR))


def is_dead(log10: Tensor) -> Tensor:
    """`[d_sae]` bool from `[d_sae]` stored log10 densities."""
    return log10 <= DEAD_LOG10_DENSITY


class LoadedSAE(NamedTuple):
    sae: SAE
    log10_density: Tensor | None
    """`[d_sae]` from `sparsity.safetensors` when the release ships one."""
    layout: str
    """"saelens" or "paper-meta"."""


def load_sae_dir(path: Path, device: torch.device | None = None, threshold: float | None = None) -> LoadedSAE:
    """Load an SAE from a local directory in either supported layout.

    `threshold` sets the inference threshold of a paper-layout meta-SAE (its files hold none).
    """
    if not path.is_dir():
        raise SAEFormatError(f"{path} is not a directory holding an SAE.")
    if (path / SAELENS_CFG).exists():
        return _load_saelens(path, device)
    if (path / PAPER_CFG).exists():
        return _load_paper_meta(path, device, threshold)
    raise SAEFormatError(f"{path} holds neither {SAELENS_CFG} (SAELens layout) nor {PAPER_CFG} (meta-SAE layout).")


MAX_CONFIG_BYTES = 1 << 20
"""Config files are a few hundred bytes; anything over a megabyte is not one."""


def read_config_json(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise SAEFormatError(f"{path} is over {MAX_CONFIG_BYTES // 1024} KiB: not an SAE config file.")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        # ValueError covers bad JSON and bytes that are not UTF-8; RecursionError, absurdly deep nesting.
        raise SAEFormatError(f"{path} is not a valid JSON config ({first_line(err)}).") from err
    if not isinstance(data, dict):
        raise SAEFormatError(f"{path} must hold a JSON object.")
    return data


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    if not path.exists():
        raise SAEFormatError(f"Missing weights file {path}.")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise SAEFormatError(
            f"{path} is not a readable safetensors file ({err}); it may be truncated. Download or build it again."
        ) from err


def _whole(value: Any, name: str, required: bool = True) -> int | None:
    """A positive whole number from a config (JSON `true` is not one), or None when absent and optional."""
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SAEFormatError(f"cfg.json: {name} must be a positive whole number, got {value!r:.40}.")
    return value


def _text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise SAEFormatError(f"cfg.json: {name} must be a string, got {value!r:.40}.")
    return value


def parse_saelens_config(raw: dict[str, Any], weights: dict[str, Tensor]) -> SAEConfig:
    """Both config generations: SAELens 6 (`metadata`) and the older flat one (`hook_point`, ...).
    Every field is type-checked: a wrong type is a `SAEFormatError`, never a crash further on."""
    meta: dict[str, Any] = raw["metadata"] if isinstance(raw.get("metadata"), dict) else {}
    flat = {**raw, **meta}
    norm = flat.get("normalize_activations") or "none"
    if not isinstance(norm, str):
        raise SAEFormatError(f"cfg.json: normalize_activations must be a string, got {norm!r:.40}.")
    if norm != "none":
        raise SAEFormatError(
            f"normalize_activations={norm!r} is not supported; fold the scaling into the weights "
            "(SAELens: fold_activation_norm_scaling_factor) and save again."
        )
    act_fn = raw.get("activation_fn_str")
    # Configs from before SAELens wrote `architecture` name the activation function instead.
    named = raw.get("architecture")
    arch = architecture(("topk" if act_fn == "topk" else "standard") if named is None else named)
    shape = tuple(weights["W_enc"].shape) if "W_enc" in weights else None
    d_in = _whole(raw.get("d_in") or (shape[0] if shape else None), "d_in")
    factor = _whole(raw.get("expansion_factor"), "expansion_factor", required=False)
    d_sae = _whole(
        raw.get("d_sae") or (d_in * factor if d_in and factor else None) or (shape[1] if shape else None), "d_sae"
    )
    apply_b_dec = raw.get("apply_b_dec_to_input", True)
    if not isinstance(apply_b_dec, bool):
        raise SAEFormatError(f"cfg.json: apply_b_dec_to_input must be true or false, got {apply_b_dec!r:.40}.")
    assert d_in is not None and d_sae is not None
    return SAEConfig(
        d_in=d_in,
        d_sae=d_sae,
        architecture=arch.name,
        k=_whole(arch.read_k(raw), "k", required=False),
        apply_b_dec_to_input=apply_b_dec,
        hook_name=_text(flat.get("hook_name") or flat.get("hook_point"), "hook_name") or "",
        model_name=_text(flat.get("model_name"), "model_name") or "",
        context_size=_whole(flat.get("context_size"), "context_size", required=False),
        neuronpedia_id=_text(flat.get("neuronpedia_id"), "neuronpedia_id"),
        extra={key: val for key, val in raw.items() if key not in _SAELENS_KNOWN},
    )


def check_tensors(
    cfg: SAEConfig, tensors: dict[str, Tensor], source: Path, skip: tuple[str, ...] = (), values: bool = True
) -> None:
    """Every tensor the architecture needs is there, of the config's shape and (with `values`) finite (`skip`: not
    checked)."""
    expected = cfg.arch.tensors(cfg.d_in, cfg.d_sae)
    for name, shape in expected.items():
        if name in skip:
            continue
        if name not in tensors:
            raise SAEFormatError(
                f"{source} has no tensor {name!r} (a {cfg.architecture} SAE needs {sorted(expected)})."
            )
        if not tensors[name].is_floating_point():
            raise SAEFormatError(f"{source}: {name} holds {tensors[name].dtype} values, not floating-point weights.")
        got = tuple(tensors[name].shape)
        if got != shape:
            raise SAEFormatError(
                f"{source}: {name} has shape {list(got)} but the config (d_in={cfg.d_in}, d_sae={cfg.d_sae}) "
                f"implies {list(shape)}."
            )
        if values and not all_finite(tensors[name]):
            raise SAEFormatError(f"{source}: {name} holds NaN or infinite values; the weights are corrupt.")


def all_finite(values: Tensor) -> bool:
    """Whether no value is NaN or infinite. The smallest and largest values carry any NaN (`aminmax` propagates it)
    and any infinity: one pass that writes nothing, where `isfinite().all()` writes a boolean per value (0.30 s
    against 0.008 s for a 98,304 x 768 matrix on 2 cores, which a fresh server paid per SAE it opened)."""
    if values.numel() == 0 or not values.is_floating_point():
        return True
    low, high = values.aminmax()
    return bool(torch.isfinite(low) & torch.isfinite(high))


def _build(cfg: SAEConfig, tensors: dict[str, Tensor], device: torch.device | None) -> SAE:
    sae = SAE(cfg, device=torch.device("cpu"))
    with torch.no_grad():
        for name in cfg.arch.tensors(cfg.d_in, cfg.d_sae):
            getattr(sae, name).copy_(tensors[name].float())
    return sae.to(device) if device is not None else sae


def _load_saelens(path: Path, device: torch.device | None) -> LoadedSAE:
    raw = read_config_json(path / SAELENS_CFG)
    tensors = _read_safetensors(path / SAELENS_WEIGHTS)
    cfg = parse_saelens_config(raw, tensors)
    check_tensors(cfg, tensors, path / SAELENS_WEIGHTS)
    return LoadedSAE(_build(cfg, tensors, device), stored_density(path, cfg.d_sae), "saelens")


def stored_density(path: Path, d_sae: int) -> Tensor | None:
    """The log10 densities `[d_sae]` stored beside the weights; None where the folder has none."""
    if not (path / SAELENS_SPARSITY).exists():
        return None
    density = _read_safetensors(path / SAELENS_SPARSITY).get("sparsity")
    if density is None or density.shape != (d_sae,):
        raise SAEFormatError(f"{path / SAELENS_SPARSITY} must hold 'sparsity' of shape [{d_sae}].")
    return density


def save_saelens(sae: SAE, path: Path, log10_density: Tensor | None = None) -> None:
    """Write `sae` in the SAELens 6 layout, as its architecture says (BatchTopK as JumpReLU, as SAELens does)."""
    cfg = sae.cfg
    saved = architecture(cfg.arch.saved_as or cfg.architecture)
    raw: dict[str, Any] = {
        "d_in": cfg.d_in,
        "d_sae": cfg.d_sae,
        "architecture": saved.name,
        "apply_b_dec_to_input": cfg.apply_b_dec_to_input,
        "normalize_activations": "none",
        "dtype": "float32",
        "metadata": {
            "hook_name": cfg.hook_name,
            "model_name": cfg.model_name,
            "context_size": cfg.context_size,
            "neuronpedia_id": cfg.neuronpedia_id,
        },
        **cfg.extra,
        **cfg.arch.config_fields(cfg.k),
    }
    tensors = {
        name: getattr(sae, name).detach().float().cpu().contiguous() for name in saved.tensors(cfg.d_in, cfg.d_sae)
    }
    path.mkdir(parents=True, exist_ok=True)
    with atomic_path(path / SAELENS_WEIGHTS) as tmp:
        save_file(tensors, str(tmp))
    if log10_density is not None:
        with atomic_path(path / SAELENS_SPARSITY) as tmp:
            save_file({"sparsity": log10_density.float().cpu().contiguous()}, str(tmp))
    write_json_atomic(path / SAELENS_CFG, raw)


USES_B_ENC = "uses_b_enc"
"""Config.json field of meta-SAEs saved here: their encoder adds b_enc (the paper's does not)."""


def _load_paper_meta(path: Path, device: torch.device | None, threshold: float | None) -> LoadedSAE:
    raw = read_config_json(path / PAPER_CFG)
    weights_path = path / PAPER_WEIGHTS
    if not weights_path.exists():
        raise SAEFormatError(f"Missing weights file {weights_path}.")
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise SAEFormatError(
            f"{weights_path} is not a plain tensor state dict; refusing to load it ({first_line(err)})."
        ) from err
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise SAEFormatError(f"{weights_path} must hold a dict of tensors; refusing to load it.")
    threshold = threshold if threshold is not None else raw.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold < float("inf"):
        raise SAEFormatError(f"{path}: a meta-SAE needs a non-negative inference threshold (catalog or Config.json).")
    try:
        cfg = SAEConfig(
            d_in=_whole(raw.get("act_size"), "act_size") or 0,
            d_sae=_whole(raw.get("dict_size"), "dict_size") or 0,
            architecture="jumprelu",
            apply_b_dec_to_input=True,
            extra={key: val for key, val in raw.items() if key not in ("act_size", "dict_size")},
        )
    except SAEFormatError as err:
        raise SAEFormatError(f"{path / PAPER_CFG}: {err}") from err
    tensors = {name: state[name] for name in ("W_enc", "W_dec", "b_dec") if name in state}
    # The paper's encoder is ReLU((x - b_dec) @ W_enc) then a threshold: its b_enc is unused. Meta-SAEs
    # trained here use theirs and say so, or they would be browsed with another encoder than measured.
    uses_b_enc = raw.get(USES_B_ENC) is True and "b_enc" in state
    if uses_b_enc:
        tensors["b_enc"] = state["b_enc"]
    # Shapes are checked against the stored tensors before anything of the config's size is allocated:
    # a Config.json claiming 10^12 latents must fail here, not in an allocation.
    check_tensors(replace(cfg, architecture="standard"), {"b_enc": torch.zeros(0), **tensors}, weights_path, ("b_enc",))
    tensors.setdefault("b_enc", torch.zeros(cfg.d_sae))
    tensors["threshold"] = torch.full((cfg.d_sae,), float(threshold))
    check_tensors(cfg, tensors, weights_path)
    return LoadedSAE(_build(cfg, tensors, device), None, "paper-meta")


def save_paper_meta(sae: SAE, path: Path, config: dict[str, Any]) -> None:
    """Write a meta-SAE in the paper's layout; `config` adds fields (k, threshold, input) to Config.json."""
    path.mkdir(parents=True, exist_ok=True)
    state = {
        name: getattr(sae, name).detach().float().cpu().contiguous() for name in ("W_enc", "b_enc", "W_dec", "b_dec")
    }
    with atomic_path(path / PAPER_WEIGHTS) as tmp:
        torch.save(state, tmp)
    raw = {"act_size": sae.cfg.d_in, "dict_size": sae.cfg.d_sae, **config, USES_B_ENC: True}
    write_json_atomic(path / PAPER_CFG, raw)
