"""Meta-SAE decompositions: which meta-latents are active on each SAE latent's decoder row.

All latents are decomposed in one batched pass and kept sparse: every (latent, meta-latent) pair
whose ReLU pre-activation exceeds a floor below the release threshold. Any threshold at or above
the floor is then a filter on that one table, so raising it can only remove entries. The inverse
index (meta-latent -> member latents) is the same table sorted the other way.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from backend.core.config import candidate_dtype
from backend.core.errors import IncompatibleError
from backend.index.finalize import DEAD_LABEL
from backend.models.sae import SAE

CHUNK = 8192
FLOOR_FRACTION = 0.5
"""Entries down to this fraction of the release threshold are kept, so the threshold can be lowered."""
MAX_PER_LATENT = 16
"""At most this many meta-latents are kept per latent (the paper's meta-SAE activates k=4)."""


def _check(meta: SAE, sae: SAE) -> None:
    if meta.cfg.d_in != sae.cfg.d_in:
        raise IncompatibleError(
            f"The meta-SAE reads vectors of width {meta.cfg.d_in} but the SAE's decoder rows have width {sae.cfg.d_in}."
        )


@torch.no_grad()
def decompose_all(meta: SAE, sae: SAE) -> Tensor:
    """Meta-latent activations (the meta-SAE's own encoder) on every unit-norm decoder row: `[d_sae, n_meta]`."""
    _check(meta, sae)
    rows = sae.unit_decoder().to(meta.device)
    return torch.cat([meta.encode(rows[start : start + CHUNK]) for start in range(0, len(rows), CHUNK)])


@dataclass
class Decompositions:
    """Sparse table of (latent, meta-latent, activation), with both sort orders."""

    latent: Tensor  # [nnz] int64, sorted by latent then activation desc
    meta: Tensor  # [nnz] int64
    value: Tensor  # [nnz] float32
    row_start: Tensor  # [d_sae + 1] offsets of each latent's entries
    by_meta: Tensor  # [nnz] permutation sorting entries by meta-latent then activation desc
    meta_start: Tensor  # [n_meta + 1] offsets into `by_meta`
    default_threshold: float
    floor: float

    @property
    def d_sae(self) -> int:
        return len(self.row_start) - 1

    @property
    def n_meta(self) -> int:
        return len(self.meta_start) - 1

    def of_latent(self, latent: int, threshold: float | None = None) -> list[tuple[int, float]]:
        """(meta-latent, activation) active on `latent`, strongest first."""
        t = self._threshold(threshold)
        self._check(latent, self.d_sae, "latent")
        lo, hi = int(self.row_start[latent]), int(self.row_start[latent + 1])
        pairs = zip(self.meta[lo:hi].tolist(), self.value[lo:hi].tolist(), strict=True)
        return [(m, v) for m, v in pairs if v > t]

    @staticmethod
    def _check(number: int, count: int, what: str) -> None:
        if not 0 <= number < count:
            raise IncompatibleError(f"There is no {what} {number}: they are numbered 0 to {count - 1}.")

    def active(self, threshold: float | None = None) -> Tensor:
        """`[nnz]` bool: the entries above `threshold` (the release's when None)."""
        return self.value > self._threshold(threshold)

    def parts_per_latent(self, threshold: float | None = None) -> Tensor:
        """`[d_sae]` number of meta-latents active on each latent's decoder row."""
        return torch.bincount(self.latent[self.active(threshold)], minlength=self.d_sae)

    def members(self, meta_latent: int, threshold: float | None = None) -> list[tuple[int, float]]:
        """(latent, activation) of every latent containing `meta_latent`, strongest first."""
        t = self._threshold(threshold)
        self._check(meta_latent, self.n_meta, "meta-latent")
        lo, hi = int(self.meta_start[meta_latent]), int(self.meta_start[meta_latent + 1])
        idx = self.by_meta[lo:hi]
        return [(i, v) for i, v in zip(self.latent[idx].tolist(), self.value[idx].tolist(), strict=True) if v > t]

    def member_values(self, meta_latent: int) -> Tensor:
        """All activations of `meta_latent` above the floor, for its histogram."""
        self._check(meta_latent, self.n_meta, "meta-latent")
        lo, hi = int(self.meta_start[meta_latent]), int(self.meta_start[meta_latent + 1])
        return self.value[self.by_meta[lo:hi]]

    def related(
        self, latent: int, limit: int = 20, threshold: float | None = None
    ) -> list[tuple[int, float, list[int]]]:
        """Latents sharing meta-latents with `latent`: (other, score, shared meta-latents), best first.

        Score: the dot product of the two decompositions (sum over shared meta-latents of the
        product of activations), so strong shared components count most."""
        own = dict(self.of_latent(latent, threshold))
        scores: Counter[int] = Counter()
        shared: dict[int, list[int]] = {}
        for m, a in own.items():
            for other, b in self.members(m, threshold):
                if other != latent:
                    scores[other] += a * b  # type: ignore[assignment]
                    shared.setdefault(other, []).append(m)
        return [(other, float(score), shared[other]) for other, score in scores.most_common(limit)]

    def _threshold(self, threshold: float | None) -> float:
        t = self.default_threshold if threshold is None else threshold
        return max(t, self.floor)


@torch.no_grad()
def build_decompositions(meta: SAE, sae: SAE) -> Decompositions:
    """Decompose every latent of `sae` with `meta` in one batched pass (chunks of CHUNK rows)."""
    _check(meta, sae)
    default = float(meta.threshold.max())
    floor = FLOOR_FRACTION * default
    rows = sae.unit_decoder().to(meta.device)
    w_enc_fast = meta.W_enc.to(candidate_dtype(meta.device))
    lat, met, val = [], [], []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        values, indices = _top_pre_acts(meta, chunk, min(MAX_PER_LATENT, meta.cfg.d_sae), w_enc_fast)
        keep = values > floor
        r = torch.arange(len(chunk), device=chunk.device).unsqueeze(1).expand_as(keep)[keep]
        lat.append(r + start)
        met.append(indices[keep])
        val.append(values[keep])
    # topk leaves each latent's entries strongest first, latents in order: already the forward order.
    latent, meta_idx, value = torch.cat(lat).cpu(), torch.cat(met).cpu(), torch.cat(val).float().cpu()
    by_meta = by_meta_then_value(meta_idx, value)
    return Decompositions(
        latent=latent,
        meta=meta_idx,
        value=value,
        row_start=_offsets(latent, sae.cfg.d_sae),
        by_meta=by_meta,
        meta_start=_offsets(meta_idx[by_meta], meta.cfg.d_sae),
        default_threshold=default,
        floor=floor,
    )


@torch.no_grad()
@torch.no_grad()
def reconstruction_cosines(meta: SAE, sae: SAE, latents: Tensor) -> Tensor:
    """`[n]` reconstruction cosines of the unit decoder rows of `latents [n]` (chunks of CHUNK rows)."""
    out = []
    for part in latents.split(CHUNK):
        rows = sae.unit_decoder(part).to(meta.device)
        out.append(torch.nn.functional.cosine_similarity(meta(rows), rows, dim=1).cpu())
    return torch.cat(out) if out else torch.zeros(0)


def _top_pre_acts(meta: SAE, rows: Tensor, n: int, w_enc_fast: Tensor) -> tuple[Tensor, Tensor]:
    """The `n` largest ReLU pre-activations of each row, strongest first: `[rows, n]` values and indices.

    Candidates come from a product in `candidate_dtype` (bfloat16 where fast); their values are then
    recomputed exactly in float32 with a sampled sparse product, so stored activations equal the encoder's."""
    centred = rows - meta.b_dec if meta.cfg.apply_b_dec_to_input else rows
    fast = torch.addmm(meta.b_enc.to(w_enc_fast.dtype), centred.to(w_enc_fast.dtype), w_enc_fast)
    candidates = fast.topk(n, dim=1).indices.sort(dim=1).values
    crow = torch.arange(0, len(rows) * n + 1, n, device=rows.device)
    mask = torch.sparse_csr_tensor(
        crow,
        candidates.flatten(),
        torch.zeros(candidates.numel(), device=rows.device),
        (len(rows), meta.cfg.d_sae),
        check_invariants=False,
    )
    exact = torch.relu(
        torch.sparse.sampled_addmm(mask, centred, meta.W_enc).values().view(len(rows), n) + meta.b_enc[candidates]
    )
    order = exact.argsort(dim=1, descending=True, stable=True)
    return exact.gather(1, order), candidates.gather(1, order)


def by_meta_then_value(meta_idx: Tensor, value: Tensor) -> Tensor:
    """Permutation sorting entries by meta-latent, then activation descending, in one integer sort:
    the bits of a non-negative float32 order like the float, so they fill the low half of the key."""
    bits = value.clamp_min(0).view(torch.int32).long()
    return torch.argsort(meta_idx * (1 << 32) + ((1 << 31) - 1 - bits), stable=True)


def _offsets(sorted_keys: Tensor, n: int) -> Tensor:
    counts = torch.bincount(sorted_keys, minlength=n)
    return torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])


def meta_label(members: list[tuple[int, float]], labels: Sequence[str], top: int = 8, words: int = 3) -> str:
    """A meta-latent's label: the words most shared by its strongest member latents' labels."""
    scores: Counter[str] = Counter()
    for latent, value in [(i, v) for i, v in members if labels[i] != DEAD_LABEL][:top]:
        for word in labels[latent].split(" · "):
            scores[word.lower()] += value  # type: ignore[assignment]
    return " · ".join(word for word, _ in scores.most_common(words)) or "(no members)"
