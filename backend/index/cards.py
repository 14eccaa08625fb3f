"""The read API behind a latent card: everything it shows, from one row group of each store file."""

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow.compute as pc

from backend.index.state import HIST_EDGES, INTERVAL_GROUP, WINDOW, WINDOW_AFTER, WINDOW_BEFORE
from backend.index.store import IndexReader

EXAMPLES_PER_INTERVAL = 4
MAX_INTERVALS = 10


@dataclass(frozen=True)
class Example:
    value: float
    tokens: list[str]
    """Tokens of the window around the example, in order."""
    acts: list[float]
    """This latent's activation on each token of the window."""
    focus: int
    """Position of the example's own token in `tokens`."""
    context: int
    position: int = 0
    """Position of the example's own token in its context (0 = BOS), as another tool counts it."""


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    count: int
    """Tokens of the whole index in this interval (the examples are a uniform sample of them)."""
    examples: list[Example]


@dataclass(frozen=True)
class Card:
    latent: int
    label: str
    density: float
    count: int
    max: float
    mean: float
    histogram: list[tuple[float, float, int]]
    """(low edge, high edge, count) of every non-empty bin, ascending."""
    neighbours: list[tuple[int, float, str]]
    """(latent, decoder cosine, label), most similar first."""
    top: list[Example]
    intervals: list[Interval]
    """Highest activations first."""
    auto_label: str = ""
    """The label computed from the data, shown beside an imported one."""
    lens_pos: list[tuple[str, float]] = field(default_factory=list)
    lens_neg: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class CardReader:
    """Cards of one index; holds the labels column so neighbour labels cost nothing."""

    index: IndexReader

    @cached_property
    def labels(self) -> list[str]:
        return list(self.index.table(["label"])["label"])

    def _example(self, token: int, value: float, window: np.ndarray) -> Example:
        seq = int(self.index.meta["context_size"])
        ctx, pos = divmod(int(token), seq)
        lo, hi = max(0, pos - WINDOW_BEFORE), min(seq, pos + WINDOW_AFTER + 1)
        # Plain lists first: indexing a memory-mapped array element by element makes an array object per token.
        ids = np.asarray(self.index.tokens[ctx, lo:hi]).tolist()
        acts = np.asarray(window[lo - (pos - WINDOW_BEFORE) : hi - (pos - WINDOW_BEFORE)], dtype=float).tolist()
        vocab = self.index.vocab
        return Example(
            value=float(value),
            tokens=[vocab[i] for i in ids],
            acts=acts,
            focus=pos - lo,
            context=ctx,
            position=pos,
        )

    def _examples(self, rows: np.ndarray, tokens: np.ndarray, values: np.ndarray, windows: np.ndarray) -> list[Example]:
        return [self._example(tokens[r], values[r], windows[r]) for r in rows]

    def card(self, latent: int) -> Card:
        row = self.index.latent_row(latent)
        examples = self.index.examples(latent)
        # Row positions by numpy rather than pandas filters: a card's examples are a few hundred rows, where each
        # pandas selection costs more than the rows do.
        kinds, intervals_of, ranks, tokens, values = (
            examples[c].to_numpy() for c in ("kind", "interval", "rank", "token", "value")
        )
        windows = pc.list_flatten(examples["window"]).to_numpy().reshape(len(examples), WINDOW)

        def by_rank(rows: np.ndarray) -> np.ndarray:
            return rows[np.argsort(ranks[rows], kind="stable")]

        top = by_rank(np.flatnonzero(kinds == "top"))
        edges = HIST_EDGES.numpy()
        histogram = [
            (float(edges[b]), float(edges[b + 1]), int(c))
            for b, c in zip(row["hist_bins"], row["hist_counts"], strict=True)
        ]
        counts = np.zeros(len(edges) - 1, dtype=np.int64)
        counts[np.asarray(row["hist_bins"], dtype=np.int64)] = row["hist_counts"]
        intervals = []
        sampled = np.flatnonzero(kinds == "interval")
        for number in sorted(set(intervals_of[sampled].tolist()), reverse=True)[:MAX_INTERVALS]:
            group = by_rank(sampled[intervals_of[sampled] == number])[:EXAMPLES_PER_INTERVAL]
            lo, hi = number * INTERVAL_GROUP, (number + 1) * INTERVAL_GROUP
            intervals.append(
                Interval(
                    low=float(edges[lo]),
                    high=float(edges[hi]),
                    count=int(counts[lo:hi].sum()),
                    examples=self._examples(group, tokens, values, windows),
                )
            )
        vocab = self.index.vocab
        lens_pos = [
            (vocab[int(i)], float(v))
            for i, v in zip(row.get("lens_pos_idx", []), row.get("lens_pos_val", []), strict=True)
        ]
        lens_neg = [
            (vocab[int(i)], float(v))
            for i, v in zip(row.get("lens_neg_idx", []), row.get("lens_neg_val", []), strict=True)
        ]
        return Card(
            latent=latent,
            label=str(row["label"]),
            auto_label=str(row["auto_label"]),
            density=float(row["density"]),
            count=int(row["count"]),
            max=float(row["max"]),
            mean=float(row["mean"]),
            histogram=histogram,
            neighbours=[
                (int(i), float(c), self.labels[int(i)]) for i, c in zip(row["nn_latent"], row["nn_cos"], strict=True)
            ],
            top=self._examples(top, tokens, values, windows),
            intervals=intervals,
            lens_pos=lens_pos,
            lens_neg=lens_neg,
        )
