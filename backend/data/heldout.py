"""Held-out activations of a release: what stitching curves and their model-loss checks are measured on.

A built release uses the last contexts of its own corpus, which training never saw; any other
release packs contexts from its corpus with a seed of its own. Activations are cached on disk.
"""

import json
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from backend.core.config import fast_bf16
from backend.core.errors import AtlasError
from backend.core.files import write_json_atomic
from backend.core.progress import Reporter, silent
from backend.data.activations import CALIBRATION_CONTEXTS, Activations, kept_positions, norm_cap
from backend.data.corpus import corpus_texts, pack_contexts
from backend.models.language import LanguageModel
from backend.sources.release import Release

HELDOUT_CONTEXTS = 128
HELDOUT_SEED = 1


@dataclass
class HeldOut:
    tokens: Tensor  # [n_ctx, seq] int64
    acts: Tensor  # [n_ctx, seq, d] float16, in the release's convention
    keep: Tensor  # [n_ctx, seq] bool: the positions SAEs are meant for (no BOS, under the norm cap)
    cap: float | None

    @property
    def vectors(self) -> Tensor:
        """`[n, d]` float32 activations at the kept positions."""
        return self.acts[self.keep].float()


@dataclass(frozen=True)
class Split:
    """How a built release divides its corpus: the first `n_train` contexts train, the rest are held
    out; `norm_cap` is the massive-activation cap measured on the training contexts."""

    n_train: int
    norm_cap: float | None

    def held_out(self, n_contexts: int, wanted: int) -> slice:
        """The last `wanted` contexts of `n_contexts`, never reaching into the training ones."""
        return slice(max(self.n_train, n_contexts - wanted), None)


def write_split(release: Release, split: Split) -> None:
    write_json_atomic(release.paths.split, asdict(split))


def read_split(release: Release) -> Split:
    try:
        return Split(**json.loads(release.paths.split.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError) as err:
        raise AtlasError(f"Release {release.id!r} is not built yet: run `python -m backend build` first.") from err


def _built_tokens(release: Release, n_contexts: int) -> tuple[Tensor, float | None]:
    split = read_split(release)
    tokens = torch.from_numpy(np.load(release.paths.corpus)).long()
    return tokens[split.held_out(len(tokens), n_contexts)], split.norm_cap


def heldout(
    release: Release,
    lm: LanguageModel,
    n_contexts: int = HELDOUT_CONTEXTS,
    report: Reporter = silent,
) -> HeldOut:
    """`n_contexts` held-out contexts of `release` (fewer if a built release held out fewer)."""
    if release.built:
        tokens, cap = _built_tokens(release, n_contexts)
    else:
        tokens = pack_contexts(
            corpus_texts(release.corpus), lm.tokenizer, lm.bos_id, release.context_size, n_contexts, HELDOUT_SEED
        )
        cap = None
    folder = release.paths.heldout_activations(len(tokens))
    artifact = Activations(folder, tokens, lm.name, release.hook, release.convention, fast_bf16(lm.device), lambda: lm)
    acts = artifact.get(lambda _step, done, total: report("held-out activations", done, total))
    if not release.built:
        cap = norm_cap(
            acts[:CALIBRATION_CONTEXTS], tokens[:CALIBRATION_CONTEXTS], lm.bos_id, release.outlier_norm_multiple
        )
    return held_out_from(tokens, acts, lm.bos_id, cap)


def held_out_from(tokens: Tensor, acts: Tensor, bos_id: int, cap: float | None) -> HeldOut:
    """Wrap activations already computed (`tokens [n_ctx, seq]`, `acts [n_ctx, seq, d]`)."""
    return HeldOut(tokens=tokens, acts=acts, keep=kept_positions(tokens, acts, bos_id, cap), cap=cap)
