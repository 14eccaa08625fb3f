"""The running index state against a brute-force reference on small random data."""

import torch

from backend.index.state import (
    HIST_EDGES,
    INTERVAL_GROUP,
    N_BINS,
    N_INTERVALS,
    RESERVOIR,
    TOP_K,
    WINDOW_BEFORE,
    IndexState,
    hist_bin,
    merge,
    sample_key,
)

SEQ, F = 10, 7


def random_acts(n_ctx: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    acts = torch.rand(n_ctx, SEQ, F, generator=gen) * 20
    acts[torch.rand(n_ctx, SEQ, F, generator=gen) < 0.6] = 0
    valid = torch.rand(n_ctx, SEQ, generator=gen) > 0.1
    return acts * valid.unsqueeze(-1), valid


def fold(acts: torch.Tensor, valid: torch.Tensor, batch: int = 3, first: int = 0) -> IndexState:
    state = IndexState.empty(F)
    for start in range(0, len(acts), batch):
        state.update(acts[start : start + batch], valid[start : start + batch], first + start)
    return state


def test_statistics_match_brute_force() -> None:
    acts, valid = random_acts(20, 0)
    state = fold(acts, valid)
    flat = acts.reshape(-1, F)[valid.reshape(-1)]
    assert int(state.n_tokens) == int(valid.sum())
    assert torch.equal(state.count, (flat > 0).sum(dim=0))
    assert torch.allclose(state.total, flat.double().sum(dim=0))
    assert torch.equal(state.max, flat.max(dim=0).values)
    for f in range(F):
        values = flat[:, f][flat[:, f] > 0].double()
        bins = (torch.bucketize(values, HIST_EDGES, right=True) - 1).clamp(0, N_BINS - 1)
        assert torch.equal(state.hist[f], torch.bincount(bins, minlength=N_BINS))


def test_top_examples_match_brute_force_values_positions_and_windows() -> None:
    acts, valid = random_acts(20, 1)
    state = fold(acts, valid)
    flat = (acts * valid.unsqueeze(-1)).reshape(-1, F)
    for f in range(F):
        order = torch.argsort(flat[:, f], descending=True, stable=True)[:TOP_K]
        assert torch.equal(state.top_tok[f], order)
        assert torch.equal(state.top_val[f], flat[order, f])
        token = int(order[0])
        pos = token % SEQ
        lo = max(0, pos - WINDOW_BEFORE)
        window = state.top_win[f, 0, lo - (pos - WINDOW_BEFORE) : WINDOW_BEFORE + 1].float()
        expected = flat[token - (pos - lo) : token + 1, f].half().float()
        assert torch.equal(window, expected)


def test_interval_examples_fall_in_their_intervals() -> None:
    acts, valid = random_acts(30, 2)
    state = fold(acts, valid)
    filled = state.res_tok >= 0
    interval = (torch.arange(len(state.res_tok)) % (N_BINS // INTERVAL_GROUP)).unsqueeze(1).expand_as(filled)[filled]
    values = state.res_val[filled].double()
    assert torch.all(values >= HIST_EDGES[interval * INTERVAL_GROUP]) and torch.all(
        values < HIST_EDGES[(interval + 1) * INTERVAL_GROUP]
    )
    flat = acts.reshape(-1, F)
    assert torch.equal(
        state.res_val[filled],
        flat[
            state.res_tok[filled],
            (torch.arange(len(state.res_tok)) // (N_BINS // INTERVAL_GROUP)).unsqueeze(1).expand_as(filled)[filled],
        ],
    )


def test_interval_examples_are_the_smallest_keys_of_each_interval() -> None:
    acts, valid = random_acts(30, 5)
    state = fold(acts, valid, batch=4)
    flat = acts.reshape(-1, F)
    for f in range(F):
        toks = (flat[:, f] > 0).nonzero().squeeze(1)
        intervals = hist_bin(flat[toks, f]) // INTERVAL_GROUP
        keys = sample_key(toks, torch.full_like(toks, f))
        for interval in range(N_INTERVALS):
            inside = toks[intervals == interval]
            order = sorted(zip(keys[intervals == interval].tolist(), inside.tolist(), strict=True))[:RESERVOIR]
            expected = [tok for _key, tok in order] + [-1] * (RESERVOIR - len(order))
            assert state.res_tok[f * N_INTERVALS + interval].tolist() == expected


def test_tied_values_keep_the_earliest_tokens() -> None:
    acts = torch.zeros(4, SEQ, F)
    acts[:, :, 0] = 1.0
    state = fold(acts, torch.ones(4, SEQ, dtype=torch.bool), batch=1)
    assert state.top_tok[0].tolist() == list(range(TOP_K))
    assert state.top_tok[1].tolist() == [-1] * TOP_K


def test_merge_of_shards_equals_the_whole() -> None:
    acts, valid = random_acts(24, 3)
    whole = fold(acts, valid)
    merged = merge(fold(acts[:10], valid[:10]), fold(acts[10:], valid[10:], first=10))
    for name, tensor in whole.tensors().items():
        assert torch.equal(tensor, getattr(merged, name)), name


def test_batch_size_does_not_change_the_result() -> None:
    acts, valid = random_acts(12, 4)
    a, b = fold(acts, valid, batch=1), fold(acts, valid, batch=5)
    assert all(torch.equal(t, getattr(b, n)) for n, t in a.tensors().items())


def test_pre_activations_with_an_elementwise_activation_fold_as_the_dense_activations() -> None:
    from backend.models.sae import ElementwiseActivation

    gen = torch.Generator().manual_seed(3)
    pre = torch.randn(12, SEQ, F, generator=gen) * 10
    threshold = torch.rand(F, generator=gen) * 4
    valid = torch.rand(12, SEQ, generator=gen) > 0.1
    dense = pre * (pre > threshold) * valid.unsqueeze(-1)
    sparse = IndexState.empty(F)
    for start in range(0, 12, 3):
        chunk = pre[start : start + 3].masked_fill(~valid[start : start + 3].unsqueeze(-1), -torch.inf)
        sparse.update(chunk, valid[start : start + 3], start, activation=ElementwiseActivation(threshold))
    expected = fold(dense, valid)
    for name, tensor in expected.tensors().items():
        assert torch.equal(tensor, sparse.tensors()[name]), name


def test_the_descending_key_orders_floats_exactly_negatives_and_ties_included() -> None:
    from backend.index.state import _descending

    values = torch.tensor([0.5, -2.0, 3.0, 0.5, -0.0, 0.0, 1e-30, -1e-30, 1e30, float(torch.finfo().tiny)])
    keys = _descending(values)
    assert torch.equal(values[keys.argsort(stable=True)], values.sort(descending=True, stable=True).values)
    assert keys[0] == keys[3] and keys[4] == keys[5]  # equal values, equal keys: ties fall to the token
