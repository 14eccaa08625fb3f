"""The steering direction of a latent or a meta-latent, scaled by the SAE's indexed maxima: one owner for the app's
steering sections and `sae-atlas steer`."""

from dataclasses import dataclass

from torch import Tensor

from backend.metasae.decompose import Decompositions
from backend.models.sae import SAE
from backend.steering.directions import Direction, latent_direction, meta_direction


@dataclass(frozen=True)
class MetaTarget:
    """A meta-latent of `meta_sae` (over the SAE), its members read from `decompositions` at `threshold`."""

    meta_sae: SAE
    decompositions: Decompositions
    meta_latent: int
    threshold: float | None = None
    """Decomposition threshold for who is a member (None: the decomposition's default)."""


def direction_for(sae: SAE, max_acts: Tensor, target: int | MetaTarget) -> Direction:
    """Steering along latent `target` (in units of its largest indexed activation) or along a meta-latent (in
    units of its member latents' mean largest activation). `max_acts [d_sae]`: every latent's largest indexed
    activation."""
    if isinstance(target, int):
        if 0 <= target < len(max_acts):
            return latent_direction(sae, target, float(max_acts[target]))
        return latent_direction(sae, target, 0.0)  # says the latent is out of range
    members = [latent for latent, _ in target.decompositions.members(target.meta_latent, target.threshold)]
    return meta_direction(target.meta_sae, target.meta_latent, sae, members, max_acts)
