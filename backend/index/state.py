"""Running per-latent statistics, folded in one token batch at a time, mergeable across shards.

Everything here is exact and order-independent, so `merge(state(A), state(B)) == state(A + B)`:
- counts, sums and maxima add or max;
- histograms use fixed log-spaced edges shared by every shard (no data-dependent range);
- top examples keep the K largest (value desc, token asc);
- interval examples are bottom-R reservoirs by a hash of (token, latent) within each interval,
  so sampling is uniform, deterministic, and a merge is the bottom R of the union.
Token ids are global positions `context * context_size + position` in the index's corpus.
Windows (the latent's activations on the tokens around an example) travel with their example.
"""

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from backend.models.sae import ElementwiseActivation

TOP_K = 24
HIST_EDGES = torch.logspace(-4, 4, 241, dtype=torch.float64)
"""Histogram bin edges (30 per decade); values outside fall into the first or last bin."""
N_BINS = len(HIST_EDGES) - 1
INTERVAL_GROUP = 6
"""Histogram bins per interval: intervals are 10^(6/30) ~ 1.58x wide."""
N_INTERVALS = N_BINS // INTERVAL_GROUP
RESERVOIR = 4
WINDOW_BEFORE, WINDOW_AFTER = 12, 3
"""Each example keeps this latent's activations on the tokens around it, for per-token highlighting."""
WINDOW = WINDOW_BEFORE + 1 + WINDOW_AFTER
_NO_KEY = torch.iinfo(torch.int64).max
_MASK31 = 0x7FFFFFFF


def hist_bin(values: Tensor) -> Tensor:
    """Histogram bin of each positive activation value."""
    edges = HIST_EDGES.to(device=values.device)
    return (torch.bucketize(values.double(), edges, right=True) - 1).clamp(0, N_BINS - 1)


def sample_key(tokens: Tensor, latents: Tensor) -> Tensor:
    """A deterministic pseudo-random 31-bit key per (token, latent) pair (integer hash, no overflow)."""
    x = (tokens * 0x9E3779B1 + latents * 0x85EBCA77) & _MASK31
    x = ((x ^ (x >> 15)) * 0x2C1B3C6D) & _MASK31
    x = ((x ^ (x >> 12)) * 0x297A2D39) & _MASK31
    return x ^ (x >> 15)


def _take(t: Tensor, order: Tensor) -> Tensor:
    """`t [rows, n, ...]` reordered along dim 1 by `order [rows, m]`."""
    if t.dim() == 2:
        return t.gather(1, order)
    # Rows of trailing data (windows) are picked whole through a flat index: a gather would need an
    # int64 index as large as the data, expanded over the trailing dims.
    base = torch.arange(len(t), device=t.device).unsqueeze(1) * t.shape[1]
    return t.reshape(-1, *t.shape[2:])[order + base]


def _sorted_top(vals: Tensor, toks: Tensor, wins: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per row, the k entries of largest value, ties to the smaller token; padding is (-inf, -1)."""
    order = toks.argsort(dim=1, stable=True)
    order = _take(order, _take(vals, order).argsort(dim=1, descending=True, stable=True))[:, :k]
    vals, toks, wins = _take(vals, order), _take(toks, order), _take(wins, order)
    return vals, toks.masked_fill(vals == -torch.inf, -1), wins


def _sorted_bottom_keys(keys: Tensor, *payload: Tensor, r: int) -> tuple[Tensor, ...]:
    """Per row, the r entries of smallest key (ties to the smaller first payload, the token)."""
    order = payload[0].argsort(dim=1, stable=True)
    order = _take(order, _take(keys, order).argsort(dim=1, stable=True))[:, :r]
    return tuple(_take(t, order) for t in (keys, *payload))


def windows(acts: Tensor, rows: Tensor, cols: Tensor, seq: int, activation: ElementwiseActivation | None) -> Tensor:
    """Activations of latent `cols` around flat position `rows` in `acts [n_ctx * seq, F]` (pre-activations
    when `activation` is given): `[n, WINDOW]` float16, zero outside the example's own context."""
    offsets = torch.arange(-WINDOW_BEFORE, WINDOW_AFTER + 1, device=acts.device)
    pos = rows.unsqueeze(1) + offsets
    inside = (pos // seq) == (rows // seq).unsqueeze(1)
    inside &= (pos >= 0) & (pos < len(acts))
    latents = cols.unsqueeze(1).expand_as(pos)
    values = acts[pos.clamp(0, len(acts) - 1), latents]
    if activation is not None:
        values = activation.at(values, latents)
    return (values * inside).to(torch.float16)


@dataclass
class IndexState:
    """Per-latent running state for an SAE of `d_sae` latents."""

    n_tokens: Tensor  # [] int64: valid tokens folded in
    count: Tensor  # [F] int64: tokens where the latent fired
    total: Tensor  # [F] float64: sum of activations
    max: Tensor  # [F] float32
    hist: Tensor  # [F, N_BINS] int64
    top_val: Tensor  # [F, TOP_K] float32, descending
    top_tok: Tensor  # [F, TOP_K] int64
    top_win: Tensor  # [F, TOP_K, WINDOW] float16
    res_key: Tensor  # [F * N_INTERVALS, RESERVOIR] int64, ascending
    res_tok: Tensor  # [F * N_INTERVALS, RESERVOIR] int64
    res_val: Tensor  # [F * N_INTERVALS, RESERVOIR] float32
    res_win: Tensor  # [F * N_INTERVALS, RESERVOIR, WINDOW] float16

    @classmethod
    def empty(cls, d_sae: int, device: torch.device | None = None, top_k: int = TOP_K) -> "IndexState":
        """The state of no tokens, keeping `top_k` top examples per latent."""
        dev = device or torch.device("cpu")
        slots = d_sae * N_INTERVALS
        return cls(
            n_tokens=torch.zeros((), dtype=torch.int64, device=dev),
            count=torch.zeros(d_sae, dtype=torch.int64, device=dev),
            total=torch.zeros(d_sae, dtype=torch.float64, device=dev),
            max=torch.zeros(d_sae, dtype=torch.float32, device=dev),
            hist=torch.zeros(d_sae, N_BINS, dtype=torch.int64, device=dev),
            top_val=torch.full((d_sae, top_k), -torch.inf, device=dev),
            top_tok=torch.full((d_sae, top_k), -1, dtype=torch.int64, device=dev),
            top_win=torch.zeros((d_sae, top_k, WINDOW), dtype=torch.float16, device=dev),
            res_key=torch.full((slots, RESERVOIR), _NO_KEY, dtype=torch.int64, device=dev),
            res_tok=torch.full((slots, RESERVOIR), -1, dtype=torch.int64, device=dev),
            res_val=torch.zeros((slots, RESERVOIR), device=dev),
            res_win=torch.zeros((slots, RESERVOIR, WINDOW), dtype=torch.float16, device=dev),
        )

    @property
    def d_sae(self) -> int:
        return len(self.count)

    @property
    def top_k(self) -> int:
        return int(self.top_val.shape[1])

    def tensors(self) -> dict[str, Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def host(self) -> "IndexState":
        """The state in host memory. From a GPU, every tensor is copied into pinned memory and the copies are queued
        before one wait: a copy into pageable memory runs at a fraction of the bus's speed and waits on its own (in
        the first GPU profile of the pass, copies to pageable memory took a third of its device time)."""
        if not self.top_val.is_cuda:
            return self
        copies = {}
        for name, tensor in self.tensors().items():
            copies[name] = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
            copies[name].copy_(tensor, non_blocking=True)
        torch.cuda.synchronize(self.top_val.device)
        return IndexState(**copies)

    def to(self, device: torch.device) -> "IndexState":
        return IndexState(**{name: t.to(device) for name, t in self.tensors().items()})

    @torch.no_grad()
    def update(
        self,
        acts: Tensor,
        valid: Tensor,
        first_context: int,
        seq: int | None = None,
        offset: int = 0,
        activation: ElementwiseActivation | None = None,
    ) -> None:
        """Fold in the activations `acts [n_ctx, width, d_sae]` of contexts `first_context...` of `seq` tokens
        (default `width`), read from position `offset` on; only positions where `valid [n_ctx, width]` is true
        count, and acts must be zero elsewhere and at every position of a context outside the columns given.
        With `activation`, `acts` are pre-activations (not firing where not valid): the dense activations are
        never built, only the entries that fire are read.

        Everything works on the sparse non-zero entries, and the top and interval examples only on the
        entries that can still enter them: the dense activations are scanned once, for their non-zeros."""
        n_ctx, width, d_sae = acts.shape
        seq = width if seq is None else seq
        flat = acts.reshape(n_ctx * width, d_sae)
        self.n_tokens += valid.sum()  # stays on the device: no host synchronisation for a count
        rows, cols = (flat > 0 if activation is None else activation.fires(flat)).nonzero(as_tuple=True)
        vals = flat[rows, cols]
        toks = (rows // width + first_context) * seq + rows % width + offset
        self.count.index_add_(0, cols, torch.ones_like(cols))  # bincount would read the largest id on the host
        self.total.index_add_(0, cols, vals.double())
        self.max = self.max.scatter_reduce(0, cols, vals, "amax")
        bins = hist_bin(vals)
        self.hist.view(-1).index_add_(0, cols * N_BINS + bins, torch.ones_like(cols))
        groups = cols * N_INTERVALS + bins // INTERVAL_GROUP
        self._update_examples(flat, rows, cols, groups, toks, vals, width, activation)

    def _update_examples(
        self,
        flat: Tensor,
        rows: Tensor,
        cols: Tensor,
        groups: Tensor,
        toks: Tensor,
        vals: Tensor,
        seq: int,
        activation: ElementwiseActivation | None,
    ) -> None:
        """Entries at least as large as their latent's current k-th example compete for its top k; entries whose
        sampling key is at most their interval's current R-th key compete for its R reservoir slots. Both contests
        are settled in one pass over one candidate list, since on a GPU each selection of a data-dependent size
        waits for the device: the latents' rows come first, the intervals' rows after them."""
        keys = sample_key(toks, cols)
        n = len(vals)
        can = torch.cat([vals >= self.top_val[cols, -1], keys <= self.res_key[groups, -1]]).nonzero().squeeze(1)
        if len(can) == 0:
            return
        top = can < n
        entry = torch.where(top, can, can - n)
        row = torch.where(top, cols[entry], self.d_sae + groups[entry])
        rank = torch.where(top, _descending(vals[entry]), keys[entry])
        limit = torch.where(top, self.top_k, RESERVOIR)
        chosen, touched, slot, column, top_rows, top_kept = _best_per_row(row, rank, toks[entry], limit, self.d_sae)
        pick = entry[chosen]
        win = windows(flat, rows[pick], cols[pick], seq, activation)
        into_top, into_res = pick[:top_kept], pick[top_kept:]
        self._fold_top(touched[:top_rows], slot[:top_kept], column[:top_kept], vals[into_top], toks[into_top],
                       win[:top_kept])  # fmt: skip
        self._fold_reservoir(touched[top_rows:] - self.d_sae, slot[top_kept:] - top_rows, column[top_kept:],
                             keys[into_res], toks[into_res], vals[into_res], win[top_kept:])  # fmt: skip

    def _fold_top(self, touched: Tensor, slot: Tensor, column: Tensor, vals: Tensor, toks: Tensor, win: Tensor) -> None:
        """Merge the chosen entries (each at `[slot, column]` of a `[len(touched), k]` layout) into the top k of
        the latents `touched`."""
        new_val = torch.full((len(touched), self.top_k), -torch.inf, device=vals.device)
        new_tok = torch.full((len(touched), self.top_k), -1, dtype=torch.int64, device=vals.device)
        new_win = torch.zeros((len(touched), self.top_k, WINDOW), dtype=torch.float16, device=vals.device)
        new_val[slot, column], new_tok[slot, column], new_win[slot, column] = vals, toks, win
        self.top_val[touched], self.top_tok[touched], self.top_win[touched] = _sorted_top(
            torch.cat([self.top_val[touched], new_val], dim=1),
            torch.cat([self.top_tok[touched], new_tok], dim=1),
            torch.cat([self.top_win[touched], new_win], dim=1),
            self.top_k,
        )

    def _fold_reservoir(
        self, touched: Tensor, slot: Tensor, column: Tensor, keys: Tensor, toks: Tensor, vals: Tensor, win: Tensor
    ) -> None:
        """Merge the chosen entries (each at `[slot, column]` of a `[len(touched), R]` layout) into the reservoirs
        of the intervals `touched`."""
        new_key = torch.full((len(touched), RESERVOIR), _NO_KEY, dtype=torch.int64, device=keys.device)
        new_tok = torch.full_like(new_key, -1)
        new_val = torch.zeros((len(touched), RESERVOIR), device=vals.device)
        new_win = torch.zeros((len(touched), RESERVOIR, WINDOW), dtype=torch.float16, device=vals.device)
        new_key[slot, column], new_tok[slot, column], new_val[slot, column], new_win[slot, column] = (
            keys, toks, vals, win,
        )  # fmt: skip
        merged = _sorted_bottom_keys(
            torch.cat([self.res_key[touched], new_key], dim=1),
            torch.cat([self.res_tok[touched], new_tok], dim=1),
            torch.cat([self.res_val[touched], new_val], dim=1),
            torch.cat([self.res_win[touched], new_win], dim=1),
            r=RESERVOIR,
        )
        self.res_key[touched], self.res_tok[touched], self.res_val[touched], self.res_win[touched] = merged


def _descending(values: Tensor) -> Tensor:
    """An int64 key per float32 value that sorts ascending as the values sort descending, equal where they are
    equal: the value's bits read as an integer, negatives mirrored (an exact order, unlike a cast)."""
    bits = values.float().view(torch.int32).long()
    return -torch.where(bits < 0, -(bits & _MASK31), bits)


def _best_per_row(
    row: Tensor, rank_by: Tensor, toks: Tensor, limit: Tensor, split: int
) -> tuple[Tensor, Tensor, Tensor, Tensor, int, int]:
    """Of entries belonging to state rows `row [n]`, the at most `limit [n]` (each entry's row's) per row of
    smallest `rank_by` (ties to the smaller token): their positions among the entries, the distinct rows they touch,
    each kept entry's (slot among those rows, column) in a `[rows, limit]` layout, and how many of the touched rows
    and of the kept entries belong to rows below `split` (they come first)."""
    order = toks.argsort(stable=True)
    order = order[rank_by[order].argsort(stable=True)]
    order = order[row[order].argsort(stable=True)]
    sorted_rows = row[order]
    column = torch.arange(len(order), device=row.device) - torch.searchsorted(sorted_rows, sorted_rows)
    keep, first = column < limit[order], column == 0
    below = sorted_rows < split
    counts = _read_later(torch.stack([keep.sum(), (first & below).sum(), (keep & below).sum()]))
    # One compaction selects the kept entries and the rows they touch (each row keeps its first entry): on a GPU
    # each selection of a data-dependent size waits for the device.
    picked = torch.cat([keep, first]).nonzero().squeeze(1)
    n_kept, top_rows, top_kept = counts()
    kept = picked[:n_kept]
    slot = (first.cumsum(0) - 1)[kept]
    return order[kept], sorted_rows[picked[n_kept:] - len(order)], slot, column[kept], top_rows, top_kept


def _read_later(values: Tensor) -> Callable[[], list[int]]:
    """Start bringing the integers `values` to the host; the function returned reads them. From a GPU the copy is
    queued into pinned memory behind the work that computes them, and read once the device is past it: called
    after the next operation that waits for the device anyway, reading them adds no wait of its own."""
    if not values.is_cuda:
        return values.tolist
    host = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
    host.copy_(values, non_blocking=True)
    copied = torch.cuda.Event()
    copied.record()

    def read() -> list[int]:
        copied.synchronize()
        return host.tolist()

    return read


def merge(a: IndexState, b: IndexState) -> IndexState:
    """The state of the union of two disjoint token sets (associative and commutative)."""
    if a.d_sae != b.d_sae or a.top_k != b.top_k:
        raise ValueError(f"Cannot merge index states of {a.d_sae}/{b.d_sae} latents, top {a.top_k}/{b.top_k}.")
    top_val, top_tok, top_win = _sorted_top(
        torch.cat([a.top_val, b.top_val], dim=1),
        torch.cat([a.top_tok, b.top_tok], dim=1),
        torch.cat([a.top_win, b.top_win], dim=1),
        a.top_k,
    )
    res_key, res_tok, res_val, res_win = _sorted_bottom_keys(
        torch.cat([a.res_key, b.res_key], dim=1),
        torch.cat([a.res_tok, b.res_tok], dim=1),
        torch.cat([a.res_val, b.res_val], dim=1),
        torch.cat([a.res_win, b.res_win], dim=1),
        r=RESERVOIR,
    )
    return IndexState(
        n_tokens=a.n_tokens + b.n_tokens,
        count=a.count + b.count,
        total=a.total + b.total,
        max=torch.maximum(a.max, b.max),
        hist=a.hist + b.hist,
        top_val=top_val,
        top_tok=top_tok,
        top_win=top_win,
        res_key=res_key,
        res_tok=res_tok,
        res_val=res_val,
        res_win=res_win,
    )
