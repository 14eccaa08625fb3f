"""Meta-SAE decompositions: which meta-latents are active on each SAE latent's decoder row."""

import torch
from torch import Tensor

from backend.errors import IncompatibleError
from backend.sae import SAE

CHUNK = 8192


@torch.no_grad()
def decompose_all(meta: SAE, sae: SAE) -> Tensor:
    """Meta-latent activations on every unit-norm decoder row of `sae`: `[d_sae, n_meta]`."""
    if meta.cfg.d_in != sae.cfg.d_in:
        raise IncompatibleError(
            f"The meta-SAE reads vectors of width {meta.cfg.d_in} but the SAE's decoder rows have width {sae.cfg.d_in}."
        )
    rows = sae.unit_decoder().to(meta.device)
    return torch.cat([meta.encode(rows[start : start + CHUNK]) for start in range(0, len(rows), CHUNK)])
