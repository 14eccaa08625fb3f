"""Absorption against planted ground truth: a letter's main latent silent on one known word, another latent
carrying the letter there."""

import pytest
import torch

from backend.lenses.absorption import LETTERS, WordTokens, absorption_table, fit_probe, word_letters, word_tokens
from backend.models.sae import SAE, SAEConfig

D = 32
ABSORBED = 19
"""The token id of the planted word ("apple") the main 'a' latent misses."""


def planted_words() -> tuple[WordTokens, list[str]]:
    """Types 10-19 start with 'a', 20-29 with 'b'; types 18, 19, 28, 29 are held out; type 19 carries an extra
    direction (the last axis) that silences the main 'a' latent."""
    draw = torch.Generator().manual_seed(0)
    own = {t: 0.5 * torch.randn(D, generator=draw) for t in range(10, 30)}
    for vector in own.values():
        vector[[0, 1, D - 1]] = 0.0  # the planted axes carry only what is planted on them
    vectors, ids = [], []
    for token in range(10, 30):
        for _ in range(20):
            x = own[token] + 0.1 * torch.randn(D, generator=draw)
            x[0 if token < 20 else 1] += 4.0
            if token == ABSORBED:
                x[D - 1] += 4.0
            vectors.append(x)
            ids.append(token)
    token_ids = torch.tensor(ids)
    vocab = [f"t{i}" for i in range(10)] + [" abc"] * 9 + [" apple"] + [" bcd"] * 10
    words = WordTokens(
        vectors=torch.stack(vectors),
        token_ids=token_ids,
        letter=(token_ids >= 20).long(),
        test=torch.isin(token_ids, torch.tensor([18, 19, 28, 29])),
    )
    return words, vocab


def planted_sae() -> SAE:
    sae = SAE(SAEConfig(d_in=D, d_sae=3), device=torch.device("cpu"))
    e = torch.eye(D)
    with torch.no_grad():
        sae.W_enc[:, 0] = e[0] - 3 * e[D - 1]  # main 'a' latent, silenced by the extra direction
        sae.W_enc[:, 1] = e[1]  # main 'b' latent
        sae.W_enc[:, 2] = e[D - 1]  # the absorber
        sae.b_enc.fill_(-1.0)
        sae.W_dec[0], sae.W_dec[1] = e[0], e[1]
        sae.W_dec[2] = (e[0] + e[D - 1]) / 2**0.5  # it carries the 'a' direction
    return sae


def test_the_planted_absorption_is_measured_with_its_absorber_and_missed_word() -> None:
    words, vocab = planted_words()
    probe = fit_probe(words)
    assert probe.accuracy == 1.0
    table = absorption_table(planted_sae(), words, probe, vocab).set_index("letter")
    a, b = table.loc["a"], table.loc["b"]
    assert a["main_latents"] == [0] and a["main_f1"] == 1.0 and a["main_recall"] == 1.0
    assert a["miss_rate"] == pytest.approx(0.5)
    assert a["full_absorption"] == pytest.approx(0.5)
    assert a["absorbers"] == [2] and a["absorber_tokens"] == [20]
    assert a["missed_words"] == ["apple"]
    assert a["baseline_full_absorption"] < a["full_absorption"] / 2  # random directions in 32 dimensions
    assert b["main_latents"] == [1] and b["full_absorption"] == 0.0 and b["miss_rate"] == 0.0
    assert table.loc["c", "words"] == 0


def test_word_tokens_are_whole_words_after_a_space_split_by_type() -> None:
    vocab = ["<bos>", " apple", "apple", " a", " Bee", " x1", " cat"]
    assert word_letters(vocab).tolist() == [-1, 0, -1, -1, 1, -1, 2]
    tokens = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 1]])
    acts = torch.randn(1, 8, 4).half()
    keep = torch.ones(1, 8, dtype=torch.bool)
    keep[0, 7] = False
    found = word_tokens(tokens, acts, keep, vocab)
    assert sorted(found.token_ids.tolist()) == [1, 4, 6]
    assert [LETTERS[i] for i in found.letter.tolist()] == [vocab[t][1].lower() for t in found.token_ids.tolist()]
    for token in (1, 4, 6):
        assert len(set(found.test[found.token_ids == token].tolist())) == 1  # a word type sits on one side


def test_the_table_is_the_same_encoded_a_few_tokens_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """SAE-98,304 is encoded a few hundred tokens at a time (a dense matrix of every word would take gigabytes):
    here three tokens a chunk for the test words and seven for the probe's training words."""
    from backend.lenses import absorption, cofiring

    words, vocab = planted_words()
    probe = fit_probe(words)
    whole = absorption_table(planted_sae(), words, probe, vocab)
    monkeypatch.setattr(absorption, "ENCODE_ELEMENTS", 3 * 3)
    monkeypatch.setattr(cofiring, "BATCH", 7)
    assert absorption_table(planted_sae(), words, probe, vocab).equals(whole)
