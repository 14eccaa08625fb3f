"""The read API behind a latent card: everything it shows, from one row group of each store file."""

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from backend.index.state import HIST_EDGES, INTERVAL_GROUP, WINDOW_AFTER, WINDOW_BEFORE
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
        ids = self.index.tokens[ctx, lo:hi]
        acts = window[lo - (pos - WINDOW_BEFORE) : hi - (pos - WINDOW_BEFORE)]
        return Example(
            value=float(value),
            tokens=[self.index.vocab[int(i)] for i in ids],
            acts=[float(a) for a in acts],
            focus=pos - lo,
            context=ctx,
            position=pos,
        )

    def card(self, latent: int) -> Card:
        row = self.index.latent_row(latent)
        examples = self.index.examples(latent)
        top = examples[examples["kind"] == "top"].sort_values("rank")
        edges = HIST_EDGES.numpy()
        histogram = [
            (float(edges[b]), float(edges[b + 1]), int(c))
            for b, c in zip(row["hist_bins"], row["hist_counts"], strict=True)
        ]
        counts = np.zeros(len(edges) - 1, dtype=np.int64)
        counts[np.asarray(row["hist_bins"], dtype=np.int64)] = row["hist_counts"]
        intervals = []
        sampled = examples[examples["kind"] == "interval"]
        for number in sorted(sampled["interval"].unique(), reverse=True)[:MAX_INTERVALS]:
            group = sampled[sampled["interval"] == number].sort_values("rank").head(EXAMPLES_PER_INTERVAL)
            lo, hi = number * INTERVAL_GROUP, (number + 1) * INTERVAL_GROUP
            intervals.append(
                Interval(
                    low=float(edges[lo]),
                    high=float(edges[hi]),
                    count=int(counts[lo:hi].sum()),
                    examples=[
                        self._example(t, v, w)
                        for t, v, w in zip(group["token"], group["value"], group["window"], strict=True)
                    ],
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
            top=[self._example(t, v, w) for t, v, w in zip(top["token"], top["value"], top["window"], strict=True)],
            intervals=intervals,
            lens_pos=lens_pos,
            lens_neg=lens_neg,
        )
