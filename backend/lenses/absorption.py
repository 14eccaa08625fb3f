"""Feature absorption on the first-letter task (Chanin et al. 2024, "A is for Absorption"; SAEBench's absorption
eval), measured on the release's own contexts instead of SAEBench's in-context prompts.

1. Word tokens: tokens that are one alphabetic word after a space (" dog"), at positions the SAEs are meant for.
   Word types are split 80/20 by a hash of the token id, so the probe is scored on words it never saw.
2. A 26-way logistic-regression probe for the first letter on the residual stream at the hook.
3. Per SAE and letter, the *main latents*: the latent whose firing best predicts the letter (F1 on the probe's
   training words), joined by the next best while the union's F1 rises by at least `SPLIT_GAIN` (the letter
   feature split over several latents), at most `MAX_MAIN`.
4. On the held-out words of the letter that the probe gets right: a *miss* is a token where every main latent
   stays silent; a *full absorption* is a miss where one active latent, with decoder cosine at least
   `ABSORBER_COSINE` with the probe direction, contributes (`act * decoder . probe`) at least `ABSORBED_SHARE`
   of the model's own projection on the probe (centred activation . probe). The *absorption fraction* of a token
   is the share of the latents' positive contributions carried by latents other than the main ones (with the
   same cosine floor).
5. The baseline repeats the full-absorption count with random unit directions in place of the probe's.

The figures compare the SAEs of one family with each other; SAEBench notes the metric means little for models
under about 1B parameters, so they are not comparable with published numbers.
"""

import re
import zlib
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import torch
from scipy.sparse import csc_matrix
from torch import Tensor

from backend.index.build import ENCODE_ELEMENTS
from backend.lenses.cofiring import firing
from backend.models.sae import SAE

LETTERS = "abcdefghijklmnopqrstuvwxyz"
WORD = re.compile(r" [A-Za-z]{2,}")
TEST_SHARE = 5
"""One word type in `TEST_SHARE` (by a hash of its id) is held out from the probe."""
PROBE_TOKENS = 12_000
"""Training words the probe is fitted on (a seeded sample; more changes its accuracy by under a point)."""
TEST_TOKENS = 8_000
MIN_LETTER_TOKENS = 20
"""Letters with fewer held-out words are shown greyed: too few to measure."""
MIN_PROBE_WORDS = 200
"""Fewer training words (or fewer than two letters among them) and there is no probe to fit: the lens says so."""
MIN_PROBE_F1 = 0.6
"""Letters the probe knows less well than this are shown greyed: no reliable ground truth."""
SPLIT_GAIN = 0.03
MAX_MAIN = 4
CANDIDATE_MAIN = 12
ABSORBER_COSINE = 0.1
"""SAEBench uses 0.025; on this 576-wide stream random directions then reach a 0.75 absorption fraction, against
0.03-0.05 at 0.1, so a latent must point along the probe this much to count (benchmarks/bench_lenses.py)."""
ABSORBED_SHARE = 0.4
BASELINE_DIRECTIONS = 4
SEED = 0
RULES = (
    "TEST_SHARE", "PROBE_TOKENS", "TEST_TOKENS", "SPLIT_GAIN", "MAX_MAIN", "ABSORBER_COSINE", "ABSORBED_SHARE",
    "BASELINE_DIRECTIONS", "SEED",
)  # fmt: skip
"""The settings an absorption table depends on: part of its key."""


@dataclass(frozen=True)
class WordTokens:
    """The word tokens of a release's contexts, as the probe and the SAEs read them."""

    vectors: Tensor  # [n, d] float32 activations at the hook
    token_ids: Tensor  # [n] int64
    letter: Tensor  # [n] int64, 0 = 'a'
    test: Tensor  # [n] bool: the word type is held out from the probe


def word_letters(vocab: list[str]) -> Tensor:
    """`[vocab]` the first letter (0-25) of each token that is one alphabetic word after a space, else -1."""
    return torch.tensor([LETTERS.index(v[1].lower()) if WORD.fullmatch(v) else -1 for v in vocab])


def word_tokens(tokens: Tensor, acts: Tensor, keep: Tensor, vocab: list[str]) -> WordTokens:
    """A seeded sample of the word tokens of `tokens [n_ctx, seq]` (activations `acts [n_ctx, seq, d]`, positions
    `keep [n_ctx, seq]`): at most `PROBE_TOKENS` training words and `TEST_TOKENS` held-out ones."""
    letters = word_letters(vocab)
    ids = tokens[keep]
    letter = letters[ids]
    found = torch.nonzero(letter >= 0).squeeze(1)
    test = torch.tensor([zlib.crc32(str(int(i)).encode()) % TEST_SHARE == 0 for i in ids[found]], dtype=torch.bool)
    generator = torch.Generator().manual_seed(SEED)
    chosen = []
    for part, cap in ((~test, PROBE_TOKENS), (test, TEST_TOKENS)):
        members = found[part]
        chosen.append(members[torch.randperm(len(members), generator=generator)[:cap]])
    picked = torch.cat(chosen)
    is_test = torch.cat([torch.zeros(len(chosen[0]), dtype=torch.bool), torch.ones(len(chosen[1]), dtype=torch.bool)])
    return WordTokens(acts[keep][picked].float(), ids[picked], letter[picked], is_test)


@dataclass(frozen=True)
class LetterProbe:
    direction: Tensor  # [26, d] unit probe directions
    mean: Tensor  # [d] the training words' mean activation
    predicted: Tensor  # [n] the probe's letter for every word token (train and test)
    f1: Tensor  # [26] on the held-out words
    accuracy: float
    """On the held-out words."""


def probe_possible(words: WordTokens) -> bool:
    """Whether the corpus holds enough word tokens, of at least two first letters, to fit a probe."""
    train = words.letter[~words.test]
    return len(train) >= MIN_PROBE_WORDS and len(train.unique()) >= 2 and bool(words.test.any())


def fit_probe(words: WordTokens) -> LetterProbe:
    """The first-letter probe, fitted on the training words, scored on the held-out ones."""
    # Imported here: scikit-learn takes over a second to import, which every page reading this lens would pay.
    from sklearn.linear_model import LogisticRegression

    train = ~words.test
    mean = words.vectors[train].mean(dim=0)
    scale = float((words.vectors[train] - mean).std()) or 1.0
    x = ((words.vectors - mean) / scale).numpy()
    model = LogisticRegression(max_iter=300, C=0.1)
    model.fit(x[train.numpy()], words.letter[train].numpy())
    coef = np.zeros((len(LETTERS), x.shape[1]), dtype=np.float32)
    # Two letters make a binary model: one row, pointing from the first class to the second.
    coef[model.classes_] = np.concatenate([-model.coef_, model.coef_]) if len(model.classes_) == 2 else model.coef_
    predicted = torch.from_numpy(model.predict(x)).long()
    truth, guess = words.letter[words.test], predicted[words.test]
    f1 = torch.tensor([_f1(int(((truth == c) & (guess == c)).sum()), int((guess == c).sum()), int((truth == c).sum()))
                       for c in range(len(LETTERS))])  # fmt: skip
    direction = torch.from_numpy(coef)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return LetterProbe(direction, mean, predicted, f1, float((truth == guess).float().mean()) if len(truth) else 0.0)


def _f1(true_positive: int, predicted: int, actual: int) -> float:
    return 2 * true_positive / (predicted + actual) if predicted + actual else 0.0


def main_latents(fired: csc_matrix, letter: Tensor) -> list[tuple[list[int], float, float]]:
    """Per letter, its main latents from `fired [n, d_sae]` (sparse bool: which latents fire on each training word)
    with first letters `letter [n]`, with the F1 and recall of their union."""
    onehot = torch.nn.functional.one_hot(letter, len(LETTERS)).float()  # [n, 26]
    hits = torch.from_numpy(np.asarray(fired.T @ onehot.numpy()).T).float()  # [26, d_sae], whole counts
    fires = torch.from_numpy(np.diff(fired.indptr)).float()
    single = 2 * hits / (fires[None, :] + onehot.sum(dim=0)[:, None]).clamp_min(1)
    found = []
    for code in range(len(LETTERS)):
        is_letter = letter == code
        candidates = single[code].topk(min(CANDIDATE_MAIN, single.shape[1])).indices.tolist()
        columns = {c: _column(fired, c) for c in candidates}
        chosen: list[int] = []
        union = torch.zeros(len(letter), dtype=torch.bool)
        best = 0.0
        while len(chosen) < MAX_MAIN:
            scores = {c: _union_f1(union | column, is_letter) for c, column in columns.items() if c not in chosen}
            if not scores:
                break
            pick = max(scores, key=scores.__getitem__)
            if chosen and scores[pick] < best + SPLIT_GAIN:
                break
            chosen.append(pick)
            union, best = union | columns[pick], scores[pick]
        recall = float((union & is_letter).sum() / is_letter.sum().clamp_min(1))
        found.append((chosen, best, recall))
    return found


def _column(fired: csc_matrix, latent: int) -> Tensor:
    """`[n]` bool: the tokens on which `latent` fires."""
    column = torch.zeros(fired.shape[0], dtype=torch.bool)
    column[torch.from_numpy(fired.indices[fired.indptr[latent] : fired.indptr[latent + 1]]).long()] = True
    return column


def _union_f1(union: Tensor, is_letter: Tensor) -> float:
    return _f1(int((union & is_letter).sum()), int(union.sum()), int(is_letter.sum()))


@dataclass(frozen=True)
class TokenAbsorption:
    miss: Tensor  # [n] bool: every main latent silent
    full: Tensor  # [n] bool: a miss with one latent carrying the probe direction
    absorber: Tensor  # [n] int64: that latent (-1 when none)
    fraction: Tensor  # [n] share of the positive probe projection carried by other latents


def token_absorption(
    acts: Tensor, decoder: Tensor, direction: Tensor, main: list[int], projection: Tensor
) -> TokenAbsorption:
    """Absorption on tokens with SAE activations `acts [n, d_sae]`, decoder rows `decoder [d_sae, d]` (any norm), for
    the unit probe `direction [d]`, the letter's `main` latents and the model's own projection of each token on the
    direction, `projection [n]` (centred activations dot `direction`)."""
    cosine = decoder @ direction / decoder.norm(dim=1).clamp_min(1e-12)
    contribution = acts * (decoder @ direction)[None, :]
    positive = contribution.clamp_min(0)
    total = positive.sum(dim=1)
    is_main = torch.zeros(len(cosine), dtype=torch.bool)
    is_main[main] = True
    aligned = (cosine >= ABSORBER_COSINE) & ~is_main
    other = (positive * aligned[None, :]).sum(dim=1)
    fraction = torch.where(total > 0, other / total.clamp_min(1e-12), torch.zeros_like(total))
    miss = (acts[:, main] <= 0).all(dim=1) if main else torch.ones(len(acts), dtype=torch.bool)
    candidate = torch.where(aligned[None, :], contribution, torch.full_like(contribution, -1.0))
    share, absorber = candidate.max(dim=1)
    full = miss & (projection > 0) & (share > 0) & (share >= ABSORBED_SHARE * projection)
    return TokenAbsorption(miss, full, torch.where(full, absorber, torch.full_like(absorber, -1)), fraction)


COLUMNS = [
    "letter", "words", "probe_f1", "main_latents", "main_f1", "main_recall", "measured_tokens", "miss_rate",
    "full_absorption", "absorption_fraction", "baseline_full_absorption", "baseline_absorption_fraction", "absorbers",
    "absorber_tokens", "missed_words", "missed_counts", "probe_accuracy",
]  # fmt: skip
"""The columns of an absorption table (an empty one: the corpus has too few word tokens for a probe)."""


@torch.no_grad()
def absorption_table(sae: SAE, words: WordTokens, probe: LetterProbe, vocab: list[str]) -> pd.DataFrame:
    """One row per letter: held-out words, probe F1, main latents with their F1 and recall, miss rate, full
    absorption rate, mean absorption fraction, the random-direction baseline, the top absorbers and missed words."""
    decoder = sae.W_dec.float().cpu()
    train, test = ~words.test, words.test
    centred = words.vectors - probe.mean
    mains = main_latents(firing(sae, words.vectors[train]), words.letter[train])
    generator = torch.Generator().manual_seed(SEED)
    random_dirs = torch.randn((BASELINE_DIRECTIONS, decoder.shape[1]), generator=generator)
    random_dirs = random_dirs / random_dirs.norm(dim=1, keepdim=True)
    rows = []
    for letter in range(len(LETTERS)):
        main, main_f1, recall = mains[letter]
        right = test & (words.letter == letter) & (probe.predicted == letter)
        directions = torch.cat([probe.direction[letter][None, :], random_dirs])
        absorbed, *baseline = _absorption(sae, words.vectors[right], centred[right], decoder, directions, main)
        absorbers = pd.Series(absorbed.absorber[absorbed.full].numpy()).value_counts().head(5)
        missed = pd.Series([vocab[int(i)] for i in words.token_ids[right][absorbed.miss]]).value_counts().head(5)
        n = int(right.sum())
        rows.append({
            "letter": LETTERS[letter],
            "words": int((test & (words.letter == letter)).sum()),
            "probe_f1": float(probe.f1[letter]),
            "main_latents": main,
            "main_f1": main_f1,
            "main_recall": recall,
            "measured_tokens": n,
            "miss_rate": float(absorbed.miss.float().mean()) if n else float("nan"),
            "full_absorption": float(absorbed.full.float().mean()) if n else float("nan"),
            "absorption_fraction": float(absorbed.fraction.mean()) if n else float("nan"),
            "baseline_full_absorption": _mean([b.full.float().mean() for b in baseline]) if n else float("nan"),
            "baseline_absorption_fraction": _mean([b.fraction.mean() for b in baseline]) if n else float("nan"),
            "absorbers": absorbers.index.astype(int).tolist(),
            "absorber_tokens": absorbers.to_numpy().astype(int).tolist(),
            "missed_words": [w.strip() for w in missed.index],
            "missed_counts": missed.to_numpy().astype(int).tolist(),
        })  # fmt: skip
    return pd.DataFrame(rows)


def _absorption(
    sae: SAE, vectors: Tensor, centred: Tensor, decoder: Tensor, directions: Tensor, main: list[int]
) -> list[TokenAbsorption]:
    """`token_absorption` of the tokens `vectors [n, d]` (centred: `centred [n, d]`) for each of `directions [k, d]`,
    encoded a few tokens at a time: a dense `[n, d_sae]` of 98,304 latents would take gigabytes."""
    rows = max(1, ENCODE_ELEMENTS // sae.cfg.d_sae)
    parts: list[list[TokenAbsorption]] = [[] for _ in directions]
    for start in range(0, max(1, len(vectors)), rows):
        acts = sae.encode(vectors[start : start + rows].to(sae.device)).cpu()
        for part, direction in zip(parts, directions, strict=True):
            part.append(token_absorption(acts, decoder, direction, main, centred[start : start + rows] @ direction))
    names = [item.name for item in fields(TokenAbsorption)]
    return [TokenAbsorption(*(torch.cat([getattr(p, name) for p in part]) for name in names)) for part in parts]


def _mean(values: list[Tensor]) -> float:
    return float(torch.stack(values).mean())


def measurable(row: pd.Series) -> bool:
    """Whether a letter's figures mean something: enough held-out words and a probe that knows the letter."""
    return bool(row["words"] >= MIN_LETTER_TOKENS and row["probe_f1"] >= MIN_PROBE_F1)
