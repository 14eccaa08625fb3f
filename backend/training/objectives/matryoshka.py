"""Matryoshka BatchTopK (Bussmann, Nabeshima, Karvonen & Nanda, ICML 2025): one dictionary whose nested prefixes (its
first `widths[0]`, `widths[1]`, ... latents) must each reconstruct the input on their own, so that early latents
learn general features and later ones the specific ones, with less absorption and splitting than a standard SAE.

Sparsity is BatchTopK's over the whole dictionary: each step keeps the `k * batch` largest pre-activations of the
batch, and at inference one threshold (the trainer's running average of the smallest kept activation) makes it a
JumpReLU SAE, as SAELens saves it. A prefix of that SAE is its first m latents and needs no re-encoding: latent i
reads the same at every width.

Where each choice comes from (the reference implementations were read, not copied):
- Loss: the mean over the prefixes' squared errors and the bias-only one (`b_dec` alone), as the authors' reference
  `GlobalBatchTopKMatryoshkaSAE` (bartbussmann/matryoshka_sae) takes it. dictionary_learning's
  `MatryoshkaBatchTopKTrainer` weights the prefixes (equal weights by default) and has no bias-only term; SAELens's
  `matryoshka_batchtopk` sums the prefix losses. Kept: the authors' mean, bias term included.
- Widths: prefix sizes here (`matryoshka_widths`, SAELens's name and meaning); the reference takes group sizes, the
  differences of these. Default: d_sae/8, d_sae/4, d_sae/2, d_sae, the embedded family's sizes.
- Dead latents: the trainer's auxiliary loss (`aux_k`, `aux_coef`), as for BatchTopK here; the reference's top_k_aux
  512 and coefficient 1/32 are for 16k-65k latents and 4,096-token batches, set in the release's training table.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from backend.training.objectives.batchtopk import BatchTopK

MAX_LEVELS = 16
"""More nested prefixes than this is a typo, not a design: each one is a decode per step."""


def squared_error(err: Tensor) -> Tensor:
    """The mean over tokens of the summed squared error `err [batch, d_in]`, as the trainer's loss reads it."""
    return err.pow(2).sum(dim=1).mean()


@dataclass(frozen=True)
class Matryoshka(BatchTopK):
    """BatchTopK's selection, encoder scale and saved `k` (its `k` counts over the whole dictionary), with the
    nested loss."""

    name = "matryoshka"
    architecture = "matryoshka_batchtopk"

    widths: tuple[int, ...] = ()
    """The nested prefixes' sizes, increasing, the last being d_sae; empty: d_sae/8, d_sae/4, d_sae/2, d_sae."""

    def __post_init__(self) -> None:
        if isinstance(self.widths, list):  # as a catalog's TOML array reads
            object.__setattr__(self, "widths", tuple(self.widths))
        if not isinstance(self.widths, tuple) or not all(
            isinstance(w, int) and not isinstance(w, bool) for w in self.widths
        ):
            raise ValueError(f"matryoshka_widths must be a list of whole numbers, got {self.widths!r:.60}.")
        super().__post_init__()

    def levels(self, d_sae: int) -> tuple[int, ...]:
        """The prefix sizes for an SAE of `d_sae` latents (the last is `d_sae`)."""
        return self.widths or (d_sae // 8, d_sae // 4, d_sae // 2, d_sae)

    def check(self, d_sae: int) -> None:
        super().check(d_sae)
        levels = self.levels(d_sae)
        if len(levels) > MAX_LEVELS:
            raise ValueError(f"matryoshka_widths lists {len(levels)} prefixes; at most {MAX_LEVELS}.")
        if levels[0] < 1 or any(a >= b for a, b in itertools.pairwise(levels)) or levels[-1] != d_sae:
            raise ValueError(
                f"matryoshka_widths must increase from at least 1 and end at d_sae ({d_sae}), got {list(levels)}."
            )

    def fit(self, err: Tensor, cols: Tensor, d_sae: int, decode: Callable[[Tensor], Tensor]) -> Tensor:
        """The mean of every prefix's squared error and the bias-only one. `err [batch, d_in]` is the whole
        dictionary's error; a smaller prefix's is it plus what the latents beyond the prefix decoded."""
        levels = self.levels(d_sae)
        losses = [squared_error(err)]
        for low, high in reversed(list(zip((0, *levels[:-1]), levels, strict=True))):
            err = err + decode((cols >= low) & (cols < high))
            losses.append(squared_error(err))
        return torch.stack(losses).mean()

    def saved_config(self, d_sae: int) -> dict[str, Any]:
        return {"matryoshka_widths": list(self.levels(d_sae))}
