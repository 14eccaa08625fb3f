"""Polysemy probes: metric arithmetic by hand, word location rules, planted latents on a tiny model."""

import math
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
import torch

from backend.models.language import LanguageModel
from backend.models.sae import SAE, SAEConfig
from backend.polysemy.probe import (
    NO_LATENT,
    Confusion,
    Located,
    balanced,
    locate,
    probe_word,
    top_latents,
    word_vectors,
)
from backend.polysemy.summary import size_trend, summarise
from backend.sources.catalog import parse_release
from tests.backend.tiny_models import tiny_lm

RELEASE = parse_release(
    "probe",
    {"model": "local:/none", "hook": "blocks.2.hook_resid_pre", "source": {"kind": "local", "root": "/tmp"},
     "saes": [{"id": "4", "path": "x"}]},
)  # fmt: skip


def test_confusion_counts_as_ps_eval_does() -> None:
    """Positive = same meaning (PS-Eval's wic_eval.py). Truth same: T T T F F; predicted same: T T F T F.
    By hand: TP = rows 0, 1; FN = row 2; FP = row 3; TN = row 4. (With the opposite convention TP
    would be row 4 alone.)"""
    truth = np.array([True, True, True, False, False])
    predicted = np.array([True, True, False, True, False])
    confusion = Confusion.of(truth, predicted)
    assert confusion == Confusion(tp=2, fp=1, tn=1, fn=1)
    metrics = confusion.metrics()
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 / 3)
    assert metrics["specificity"] == pytest.approx(1 / 2)
    assert metrics["accuracy"] == pytest.approx(3 / 5)


def test_balancing_keeps_the_first_same_meaning_pairs_up_to_the_probed_different_ones() -> None:
    """Two different-meaning pairs probed (rows 2, 4), so the first two same-meaning rows (0, 1) are
    the candidates; row 1 was skipped, so only row 0 of them counts, as in the reference loop."""
    truth = np.array([True, True, False, True, False, True, True])
    probed = np.array([True, False, True, True, True, True, True])
    assert balanced(truth, probed).tolist() == [True, False, True, False, True, False, False]


def test_metrics_without_positives_are_undefined_not_zero() -> None:
    metrics = Confusion(tp=0, fp=0, tn=3, fn=0).metrics()
    assert math.isnan(metrics["precision"]) and math.isnan(metrics["recall"]) and math.isnan(metrics["f1"])
    assert metrics["specificity"] == 1.0


@pytest.fixture(scope="module")
def lm() -> LanguageModel:
    return tiny_lm("llama")


def test_the_word_is_read_at_its_token(lm: LanguageModel) -> None:
    found = locate(lm, "w5 w6 w7", "w9", "template")
    assert isinstance(found, Located)
    assert found.tokens[found.position] == 9 and found.tokens[0] == lm.bos_id
    inside = locate(lm, "w5 w9 w7", "w9", "context")
    assert isinstance(inside, Located) and inside.position == 2
    assert locate(lm, "w5 w6 w7", "w9", "context") == "word not in context as one token"
    assert locate(lm, "w5 w6", "w9 w8", "template") == "word is several tokens"


def test_right_padding_does_not_change_the_word_vector(lm: LanguageModel) -> None:
    alone, _ = word_vectors(lm, RELEASE, [("w5 w6", "w9")], "template")
    batched, skipped = word_vectors(lm, RELEASE, [("w5 w6", "w9"), ("w5 w6 w7 w8 w10 w11", "w9")], "template")
    assert skipped == [None, None]
    assert torch.allclose(alone[0], batched[0], atol=1e-5)


def test_planted_latents_give_the_expected_argmax(lm: LanguageModel) -> None:
    contexts = ["w5 w6 w7", "w20 w21 w22", "w5 w6 w7"]
    vectors, _ = word_vectors(lm, RELEASE, [(c, "w9") for c in contexts], "template")
    centre = (vectors[0] + vectors[1]) / 2
    sae = SAE(SAEConfig(d_in=16, d_sae=4))
    with torch.no_grad():
        sae.b_dec.copy_(centre)
        sae.W_enc[:, 2] = torch.nn.functional.normalize(vectors[0] - centre, dim=0)
        sae.W_enc[:, 3] = torch.nn.functional.normalize(vectors[1] - centre, dim=0)
    probe = probe_word(lm, RELEASE, {"4": sae}, "w9", contexts, "template")["4"]
    assert probe.argmax == [2, 3, 2]
    assert probe.specific(1) == [3] and probe.shared() == []
    silent = probe_word(lm, RELEASE, {"4": SAE(SAEConfig(d_in=16, d_sae=4))}, "w9", contexts[:1], "template")["4"]
    assert silent.argmax == [NO_LATENT]


def _sense_benchmark(lm: LanguageModel, separable: bool) -> dict[str, float]:
    """PS-Eval's counting over pairs of w9 in two 'senses' (contexts of w5-w8 or of w20-w23), read by an SAE
    whose latents point at each sense's mean (separable) or one latent at the word's mean (not separable)."""
    a = ["w5 w6 w7", "w5 w6 w8", "w5 w7 w8", "w6 w7 w8"]
    b = ["w20 w21 w22", "w20 w21 w23", "w20 w22 w23", "w21 w22 w23"]
    pairs = [(x, y, True) for group in (a, b) for x, y in pairwise(group)]
    pairs += [(x, y, False) for x, y in zip(a + a[:2], b + b[2:], strict=True)]
    probe = pd.DataFrame(pairs, columns=["context1", "context2", "same"]).assign(word="w9")
    items = [(c, "w9") for c in probe["context1"]] + [(c, "w9") for c in probe["context2"]]
    vectors, _ = word_vectors(lm, RELEASE, items, "template")
    sense_a, sense_b = (word_vectors(lm, RELEASE, [(c, "w9") for c in g], "template")[0].mean(0) for g in (a, b))
    centre = (sense_a + sense_b) / 2
    sae = SAE(SAEConfig(d_in=16, d_sae=4))
    with torch.no_grad():
        if separable:
            sae.b_dec.copy_(centre)
            sae.W_enc[:, 0] = torch.nn.functional.normalize(sense_a - centre, dim=0)
            sae.W_enc[:, 1] = torch.nn.functional.normalize(sense_b - centre, dim=0)
        else:
            sae.W_enc[:, 0] = torch.nn.functional.normalize(centre, dim=0)
    argmax = top_latents(sae, vectors, 1)[0][:, 0].numpy()
    n = len(probe)
    frame = pd.DataFrame({"argmax1": argmax[:n], "argmax2": argmax[n:], "skipped": [""] * n})
    return dict(summarise(probe, {"4": frame}, {"4": 4}).iloc[0])


def test_separable_senses_score_high_and_a_token_detector_scores_chance(lm: LanguageModel) -> None:
    good = _sense_benchmark(lm, separable=True)
    assert good["accuracy"] == 1.0 and good["specificity"] == 1.0
    detector = _sense_benchmark(lm, separable=False)
    assert detector["accuracy"] == 0.5 and detector["specificity"] == 0.0 and detector["recall"] == 1.0


def test_the_size_trend_is_said_plainly() -> None:
    frame = pd.DataFrame({"sae": ["a", "b", "c"], "latents": [1, 2, 4], "accuracy": [0.5, 0.6, 0.7]})
    assert (
        size_trend(frame)
        == "Accuracy rises with size (0.50 → 0.60 → 0.70, smallest to largest SAE); SAE a is at chance (0.5 ± 0.05)."
    )
    flat = frame.assign(accuracy=[0.6, 0.58, 0.7])
    assert size_trend(flat).startswith("Accuracy does not rise with size (0.60 → 0.58 → 0.70")
