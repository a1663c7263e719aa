"""Weight averaging with the base model (train.merge_base, WiSE-FT)."""

from __future__ import annotations

import pytest
import torch

from lexqa.train.merge import average_with_base


def _pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    tuned, base = torch.nn.Embedding(4, 3), torch.nn.Embedding(4, 3)
    for module in (tuned, base):
        module.register_buffer("ids", torch.arange(4))
    return tuned, base


def test_floating_tensors_are_averaged_and_integer_buffers_kept():
    tuned, base = _pair()
    before = tuned.weight.detach().clone()
    tuned.ids.fill_(7)
    assert average_with_base(tuned, base.state_dict(), share=0.3) == 1
    torch.testing.assert_close(tuned.weight.detach(), 0.7 * before + 0.3 * base.weight.detach())
    assert tuned.ids.tolist() == [7, 7, 7, 7]  # not a weight: left alone


def test_share_zero_changes_nothing():
    tuned, base = _pair()
    before = tuned.weight.detach().clone()
    average_with_base(tuned, base.state_dict(), share=0.0)
    assert torch.equal(tuned.weight.detach(), before)


def test_a_negative_share_extrapolates_along_the_update():
    tuned, base = _pair()
    before = tuned.weight.detach().clone()
    average_with_base(tuned, base.state_dict(), share=-1.0)
    update = before - base.weight.detach()
    torch.testing.assert_close(tuned.weight.detach(), base.weight.detach() + 2 * update)


@pytest.mark.parametrize("share", [1.0, -3.5])
def test_a_share_outside_the_range_is_refused(share):
    tuned, base = _pair()
    with pytest.raises(ValueError, match=r"share must be in \[-3, 1\)"):
        average_with_base(tuned, base.state_dict(), share)


def test_another_architecture_is_named():
    tuned, _ = _pair()
    with pytest.raises(ValueError, match=r"its weight is of shape \(5, 3\).*has shape \(4, 3\)"):
        average_with_base(tuned, torch.nn.Embedding(5, 3).state_dict(), 0.5)
    with pytest.raises(ValueError, match="its weight is missing"):
        average_with_base(tuned, {}, 0.5)
