"""Polysemy probes (after PS-Eval, Minegishi et al. 2025): does an SAE give a word's senses different latents?

Where the word is read: in "template" mode at the word's token of PS-Eval's prompt
"{context} The {word} means" (the model is causal, so the text after the word cannot change it);
in "context" mode at the word's first occurrence in the context itself (lower case or capitalised;
without the space when it opens the context). The word must be one token after a space (" bank");
pairs with a word of several tokens, or (context mode) a context without the word as one token,
are skipped and counted, as PS-Eval does.

Prediction: a pair is "same meaning" when both contexts have the same argmax latent (no latent
firing counts as latent -1). Counted as PS-Eval's reference code (`wic_eval.py`) counts, so the
figures compare with the paper's: the positive class is *same meaning* (label 1). TP = same meaning,
same argmax; FN = same meaning, different argmax; FP = different meaning, same argmax; TN =
different meaning, different argmax. The reference also balances the classes: of the same-meaning
pairs, only the first as many (in file order) as there were different-meaning pairs probed are used.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

from backend.models.language import LanguageModel
from backend.models.sae import SAE
from backend.sources.release import Release

Mode = Literal["template", "context"]
MODES: tuple[str, ...] = get_args(Mode)
DEFAULT_MODE: Mode = "template"
TEMPLATE = "{context} The {word} means"
NO_LATENT = -1
RESIDUAL = "residual"
"""The reader that is no SAE, beside the SAEs' ids: the hook's activations as they are."""
BATCH = 32


@dataclass(frozen=True)
class Located:
    tokens: list[int]
    """Token ids with BOS, up to and including the word."""
    position: int


def word_token(lm: LanguageModel, word: str) -> int | None:
    """The single token of " word", or None when it takes several."""
    ids = lm.tokenizer(" " + word.strip(), add_special_tokens=False)["input_ids"]
    return int(ids[0]) if len(ids) == 1 else None


def locate(lm: LanguageModel, context: str, word: str, mode: Mode) -> Located | str:
    """Where the word is read in this context, or why the pair is skipped."""
    token = word_token(lm, word)
    if token is None:
        return "word is several tokens"
    if mode == "template":
        prefix = TEMPLATE.format(context=context.strip(), word=word.strip()).removesuffix(" means")
        ids = lm.tokenize(prefix).tolist()
        return Located(ids, len(ids) - 1) if ids[-1] == token else "word is several tokens"
    ids = lm.tokenize(context.strip()).tolist()
    forms = {word.strip(), word.strip().capitalize()}
    inside = {word_token(lm, form) for form in forms}
    # The first word of a context has no space before it, so it is another token.
    first = {_bare_token(lm, form) for form in forms}
    for position, tok in enumerate(ids):
        if tok in inside or (position == 1 and tok in first):
            return Located(ids, position)
    return "word not in context as one token"


def _bare_token(lm: LanguageModel, word: str) -> int | None:
    ids = lm.tokenizer(word, add_special_tokens=False)["input_ids"]
    return int(ids[0]) if len(ids) == 1 else None


@torch.no_grad()
def word_vectors(
    lm: LanguageModel,
    release: Release,
    items: list[tuple[str, str]],
    mode: Mode,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Tensor, list[str | None]]:
    """Activations at the word for each (context, word): `[n, d]` (zeros where skipped) and the skip reasons.

    Prompts are batched right-padded: causal attention keeps padding from reaching the word."""
    found = [locate(lm, context, word, mode) for context, word in items]
    vectors = torch.zeros(len(items), lm.d_model)
    todo = [i for i, f in enumerate(found) if isinstance(f, Located)]
    for start in range(0, len(todo), BATCH):
        chunk = todo[start : start + BATCH]
        located = [found[i] for i in chunk]
        assert all(isinstance(f, Located) for f in located)
        width = max(len(f.tokens) for f in located)  # type: ignore[union-attr]
        batch = torch.full((len(chunk), width), lm.bos_id, dtype=torch.long)
        for row, f in enumerate(located):
            batch[row, : len(f.tokens)] = torch.tensor(f.tokens)  # type: ignore[union-attr]
        acts = lm.activations(batch, release.hook, release.convention)
        positions = torch.tensor([f.position for f in located])  # type: ignore[union-attr]
        vectors[chunk] = acts[torch.arange(len(chunk)), positions].cpu()
        if progress:
            progress(min(start + BATCH, len(todo)), len(todo))
    return vectors, [None if isinstance(f, Located) else f for f in found]


@torch.no_grad()
def encoded(sae: SAE, vectors: Tensor) -> Tensor:
    """`vectors [n, d]` -> the SAE's codes `[n, d_sae]`, on the CPU."""
    return sae.encode(vectors.to(sae.device).float()).cpu()


def strongest(codes: Tensor, top: int) -> tuple[Tensor, Tensor]:
    """`codes [n, d_sae]` -> the `top` strongest latents `[n, top]` (index NO_LATENT where fewer fire) and values."""
    values, indices = codes.topk(min(top, codes.shape[1]), dim=1)
    return torch.where(values > 0, indices, NO_LATENT), values


def top_latents(sae: SAE, vectors: Tensor, top: int) -> tuple[Tensor, Tensor]:
    """`vectors [n, d]` -> the `top` strongest latents `[n, top]` and their values."""
    return strongest(encoded(sae, vectors), top)


@dataclass(frozen=True)
class Confusion:
    tp: int
    fp: int
    tn: int
    fn: int

    @staticmethod
    def of(same_truth: np.ndarray, same_predicted: np.ndarray) -> "Confusion":
        """Positive = same meaning, as PS-Eval counts (see the module docstring)."""
        truth, predicted = same_truth.astype(bool), same_predicted.astype(bool)
        return Confusion(
            tp=int((truth & predicted).sum()),
            fp=int((~truth & predicted).sum()),
            tn=int((~truth & ~predicted).sum()),
            fn=int((truth & ~predicted).sum()),
        )

    def metrics(self) -> dict[str, float]:
        def ratio(a: int, b: int) -> float:
            return a / b if b else float("nan")

        precision, recall = ratio(self.tp, self.tp + self.fp), ratio(self.tp, self.tp + self.fn)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else float("nan")
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "specificity": ratio(self.tn, self.tn + self.fp),
            "accuracy": ratio(self.tp + self.tn, self.tp + self.fp + self.tn + self.fn),
        }


def balanced(same_truth: np.ndarray, probed: np.ndarray) -> np.ndarray:
    """`[n]` bool: the pairs PS-Eval counts. Every probed different-meaning pair; of the same-meaning
    pairs, the first `m` in order (probed or not, then only the probed ones count), where `m` is the
    number of different-meaning pairs probed."""
    truth = same_truth.astype(bool)
    m = int((~truth & probed).sum())
    first_same = truth & (np.cumsum(truth) <= m)
    return probed & (~truth | first_same)


@dataclass
class WordProbe:
    """One SAE's reading of a word in several contexts."""

    top: list[list[tuple[int, float]]]
    """Per context, (latent, activation) strongest first; empty where the context was skipped."""
    skipped: list[str | None]

    @property
    def argmax(self) -> list[int | None]:
        return [t[0][0] if t else (None if s else NO_LATENT) for t, s in zip(self.top, self.skipped, strict=True)]

    def shared(self) -> list[int]:
        """Latents among the top ones of every probed context."""
        sets = [{latent for latent, _ in t} for t, s in zip(self.top, self.skipped, strict=True) if s is None]
        return sorted(set.intersection(*sets)) if len(sets) >= 2 else []

    def specific(self, context: int) -> list[int]:
        """Latents among this context's top ones and no other probed context's."""
        others = {lat for i, t in enumerate(self.top) if i != context and self.skipped[i] is None for lat, _ in t}
        return [latent for latent, _ in self.top[context] if latent not in others]


def probe_word(
    lm: LanguageModel, release: Release, saes: dict[str, SAE], word: str, contexts: list[str], mode: Mode, top: int = 8
) -> dict[str, WordProbe]:
    """Each SAE's top latents at `word` in each context (one model pass shared by all SAEs)."""
    vectors, skipped = word_vectors(lm, release, [(c, word) for c in contexts], mode)
    result = {}
    for sae_id, sae in saes.items():
        indices, values = top_latents(sae, vectors, top)
        rows = [
            [] if skip else [(int(i), float(v)) for i, v in zip(idx, val, strict=True) if i != NO_LATENT]
            for idx, val, skip in zip(indices, values, skipped, strict=True)
        ]
        result[sae_id] = WordProbe(top=rows, skipped=skipped)
    return result
