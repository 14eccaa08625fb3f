"""Sparse autoencoders: one module for every architecture the dashboard reads (`backend.models.architectures`).

Conventions follow SAELens: `W_enc [d_in, d_sae]`, `W_dec [d_sae, d_in]`, pre-activations
`(x - b_dec) @ W_enc + b_enc` (the `b_dec` subtraction switchable), reconstruction
`f @ W_dec + b_dec`; the architecture is the activation function between them.
"""

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from backend.core.config import default_device
from backend.core.errors import IncompatibleError, SAEFormatError
from backend.models.architectures import Architecture, architecture


@dataclass(frozen=True)
class SAEConfig:
    """Shape and activation function of an SAE, plus where its inputs come from."""

    d_in: int
    """Width of the activations it reads."""
    d_sae: int
    """Number of latents."""
    architecture: str = "standard"
    """A name of `backend.models.architectures.ARCHITECTURES` (SAELens's names)."""
    k: int | None = None
    """Active latents per token (topk, batchtopk)."""
    apply_b_dec_to_input: bool = True
    """Subtract `b_dec` from the input before encoding."""
    hook_name: str = ""
    """Where in the model the activations are read, e.g. `blocks.8.hook_resid_pre`."""
    model_name: str = ""
    context_size: int | None = None
    neuronpedia_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else the config file held, kept so a round trip loses nothing."""

    def prefix(self, width: int) -> "SAEConfig":
        """The config of the SAE of the first `width` latents, refused (IncompatibleError) where that is not an SAE."""
        if not self.arch.reads_each_latent:
            raise IncompatibleError(
                f"A prefix of a {self.architecture} SAE is not an SAE: its activation reads every latent."
            )
        if not 0 < width <= self.d_sae:
            raise IncompatibleError(f"A prefix of {width} latents does not fit an SAE of {self.d_sae}.")
        return replace(self, d_sae=width)

    def __post_init__(self) -> None:
        arch = architecture(self.architecture)
        if self.d_in <= 0 or self.d_sae <= 0:
            raise SAEFormatError(f"d_in and d_sae must be positive, got {self.d_in} and {self.d_sae}.")
        if arch.needs_k and not (self.k and 0 < self.k <= self.d_sae):
            raise SAEFormatError(f"A {self.architecture} SAE needs 0 < k <= d_sae, got k={self.k}.")

    @property
    def arch(self) -> Architecture:
        return architecture(self.architecture)

    @property
    def uses_threshold(self) -> bool:
        return self.arch.reads_threshold


@dataclass(frozen=True)
class ElementwiseActivation:
    """An activation that reads each pre-activation alone (ReLU, JumpReLU): which entries fire and the value of
    any, so a reader of the non-zeros alone (the index) never builds the dense activations."""

    threshold: Tensor  # [d_sae], >= 0: an entry fires where it is above its latent's

    def fires(self, pre: Tensor) -> Tensor:
        """`pre [..., d_sae]` -> where the activation is positive."""
        return pre > self.threshold

    def at(self, pre: Tensor, latents: Tensor) -> Tensor:
        """The activations of pre-activations `pre` of `latents` (same shape)."""
        return torch.where(pre > self.threshold[latents], pre, 0.0)


class SAE(nn.Module):
    """An SAE of any registered architecture; `threshold` is used by those that read it (jumprelu, batchtopk)."""

    def __init__(self, cfg: SAEConfig, device: torch.device | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.cfg = cfg
        self.arch = cfg.arch
        dev = device or default_device()
        self.W_enc = nn.Parameter(torch.zeros(cfg.d_in, cfg.d_sae, dtype=dtype, device=dev))
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae, dtype=dtype, device=dev))
        self.W_dec = nn.Parameter(torch.zeros(cfg.d_sae, cfg.d_in, dtype=dtype, device=dev))
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in, dtype=dtype, device=dev))
        self.register_buffer("threshold", torch.zeros(cfg.d_sae, dtype=dtype, device=dev))
        for name, shape in self.arch.tensors(cfg.d_in, cfg.d_sae).items():
            if not hasattr(self, name):
                self.register_buffer(name, torch.zeros(shape, dtype=dtype, device=dev))

    threshold: Tensor

    def pre_acts(self, x: Tensor) -> Tensor:
        """`x [..., d_in]` -> pre-activations `[..., d_sae]`."""
        x = x.to(self.W_enc.dtype)
        if self.cfg.apply_b_dec_to_input:
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc

    def activate(self, pre: Tensor) -> Tensor:
        """Inference activation function on pre-activations `[..., d_sae]`."""
        return self.arch.activate(pre, self)

    def elementwise_activation(self) -> ElementwiseActivation | None:
        """This SAE's activation as an `ElementwiseActivation`, or None where it reads a whole row (top-k)."""
        return ElementwiseActivation(self.arch.firing_threshold(self)) if self.arch.reads_each_latent else None

    def encode(self, x: Tensor) -> Tensor:
        """`x [..., d_in]` -> latent activations `[..., d_sae]` (inference mode)."""
        return self.activate(self.pre_acts(x))

    def decode(self, f: Tensor) -> Tensor:
        """`f [..., d_sae]` -> reconstruction `[..., d_in]`."""
        return f.to(self.W_dec.dtype) @ self.W_dec + self.b_dec

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def unit_decoder(self, latents: Tensor | None = None) -> Tensor:
        """Decoder rows scaled to unit norm, `[d_sae, d_in]`, or only those of `latents [n]`: `[n, d_in]` (zero rows
        stay zero)."""
        rows = self.W_dec if latents is None else self.W_dec[latents.to(self.W_dec.device)]
        # A multiply by the reciprocal: about twice as fast as a divide over [d_sae, d_in] on CPU.
        return rows * rows.norm(dim=1, keepdim=True).clamp_min(1e-12).reciprocal()

    @property
    def device(self) -> torch.device:
        return self.W_enc.device

    def prefix(self, width: int) -> "SAE":
        """The SAE of the first `width` latents: one level of a Matryoshka SAE, whose latent i reads the same at
        every width. Only for activations that read each latent alone (a top-k reads them all)."""
        small = SAE(self.cfg.prefix(width), device=self.device, dtype=self.W_enc.dtype)
        shapes = {name: tensor.shape for name, tensor in small.state_dict().items()}
        small.load_state_dict(
            {name: full[tuple(slice(0, n) for n in shapes[name])] for name, full in self.state_dict().items()}
        )
        return small

    def digest(self) -> str:
        """SHA-256 of the weights: names what was computed from this SAE, wherever its files live."""
        hasher = hashlib.sha256()
        for name, tensor in sorted(self.state_dict().items()):
            hasher.update(name.encode())
            hasher.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
        return hasher.hexdigest()
