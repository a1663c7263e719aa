"""Weight averaging of the fine-tuned model with its base (WiSE-FT; LM-Cocktail for embedding models).

Fine-tuning on synthetic questions moves the model towards them and away from what the base learnt on real
queries. Averaging the two models' weights, ``(1 - share) × fine-tuned + share × base``, keeps part of both:
Wortsman et al. 2022 ("Robust fine-tuning of zero-shot models", WiSE-FT) found the average more robust to a
shift of distribution than either end, and Xiao et al. 2023 ("LM-Cocktail") did the same for embedding
models. A negative share goes the other way, past the fine-tuned model along the update it learnt
(``share=-1``: ``2 × fine-tuned - base``): the task vector scaled up (Ilharco et al. 2023, "Editing models
with task arithmetic"; ExPO, Zheng et al. 2024). Both models share one architecture, so the combination is
taken tensor by tensor; integer buffers (token type or position ids) are the same in both and stay as they
are::

    >>> import torch
    >>> tuned, base = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    >>> _ = tuned.weight.data.fill_(1.0), base.weight.data.fill_(0.0)
    >>> average_with_base(tuned, base.state_dict(), share=0.25)
    2
    >>> tuned.weight.tolist()
    [[0.75, 0.75]]
    >>> _ = average_with_base(tuned, base.state_dict(), share=-1.0)  # 2 × 0.75 - 0
    >>> tuned.weight.tolist()
    [[1.5, 1.5]]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from lexqa.config import MIN_BASE_SHARE

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["average_with_base"]


def average_with_base(model: nn.Module, base: Mapping[str, torch.Tensor], share: float) -> int:
    """Replace each floating tensor of ``model`` by ``(1 - share) × it + share × base's``, in place (a
    negative ``share`` extrapolates away from the base).

    Returns how many tensors were combined. A tensor missing from ``base`` or of another shape means the two
    are not the same architecture: ValueError, naming it.
    """
    import torch

    if not MIN_BASE_SHARE <= share < 1:
        raise ValueError(f"the base model's share must be in [{MIN_BASE_SHARE:g}, 1), got {share}")
    averaged = 0
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            other = base.get(name)
            if other is None or other.shape != tensor.shape:
                found = "missing" if other is None else f"of shape {tuple(other.shape)}"
                raise ValueError(
                    f"cannot average with the base model: its {name} is {found}, "
                    f"the fine-tuned model's has shape {tuple(tensor.shape)}"
                )
            tensor.mul_(1 - share).add_(other.to(tensor.device, tensor.dtype), alpha=share)
            averaged += 1
    return averaged
