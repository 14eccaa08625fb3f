import pytest
import torch

from backend.training.bias_adaptation import FiringWindow, GroupTargets, adapt_biases


def window_of(pre: torch.Tensor) -> FiringWindow:
    window = FiringWindow(pre.shape[1], torch.device("cpu"))
    window.add(pre)
    return window


def test_a_latent_above_its_target_moves_down_by_the_step_times_its_peak() -> None:
    # Latent 0 fires on 3 of 4 tokens (target 0.25), peak 2.0; latent 1 fires on 1 of 4 (at its target).
    pre = torch.tensor([[2.0, -1.0], [1.0, -0.5], [0.5, 0.3], [-1.0, -2.0]])
    b_enc = torch.tensor([0.1, -0.2])
    adapt_biases(b_enc, window_of(pre), torch.tensor([0.25, 0.25]), step=0.1)
    assert b_enc.tolist() == pytest.approx([0.1 - 0.1 * 2.0, -0.2])


def test_a_silent_latent_moves_up_until_it_would_fire_where_it_came_closest() -> None:
    pre = torch.tensor([[-0.4, 0.2], [-0.9, -0.1]])
    b_enc = torch.tensor([-1.0, 0.0])
    adapt_biases(b_enc, window_of(pre), torch.tensor([0.5, 0.5]), step=0.01)
    assert b_enc[0] == pytest.approx(-1.0 + 0.4 * 1.01)
    assert b_enc[1] == 0.0
    # Its closest token now fires, just above zero.
    assert -0.4 + (b_enc[0] + 1.0) == pytest.approx(0.004, abs=1e-6)


def test_a_latent_firing_below_its_target_is_left_alone() -> None:
    pre = torch.tensor([[1.0], [-1.0], [-1.0], [-1.0]])
    b_enc = torch.tensor([0.5])
    adapt_biases(b_enc, window_of(pre), torch.tensor([0.5]), step=0.1)
    assert b_enc.item() == 0.5


def test_the_window_counts_across_batches_and_resets() -> None:
    window = window_of(torch.tensor([[1.0, -1.0]]))
    window.add(torch.tensor([[3.0, -0.5], [-1.0, -3.0]]))
    assert window.counts.tolist() == [2, 0] and window.peak.tolist() == [3.0, -0.5] and window.tokens == 3
    restored = FiringWindow(2, torch.device("cpu"))
    restored.load(window.state())
    assert restored.counts.tolist() == [2, 0] and restored.tokens == 3
    window.reset()
    assert window.tokens == 0 and window.counts.sum() == 0


def test_group_targets_fall_geometrically_in_contiguous_groups() -> None:
    targets = GroupTargets(groups=3, highest=0.1, lowest=0.001).per_latent(7)
    assert targets[0] == pytest.approx(0.1) and targets[-1] == pytest.approx(0.001)
    assert sorted(set(targets.tolist()), reverse=True) == pytest.approx([0.1, 0.01, 0.001])
    assert (targets[1:] <= targets[:-1]).all()


@pytest.mark.parametrize(
    ("groups", "highest", "lowest"), [(0, 0.1, 0.01), (2, 0.01, 0.1), (2, 0.1, 0.0), (2, 2.0, 0.1)]
)
def test_impossible_targets_are_refused(groups: int, highest: float, lowest: float) -> None:
    with pytest.raises(ValueError, match="Group Bias Adaptation"):
        GroupTargets(groups, highest, lowest)
