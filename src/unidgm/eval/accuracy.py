"""Classification accuracy for the semi-supervised VAE's classifier and for domain adaptation.

Protocols: semi-supervised MNIST reports the test accuracy of q(y|x) (Kingma et al. 2014; Hu et al. 2018,
Table 3); domain adaptation reports the target-domain test accuracy next to the source-only baseline
(Ganin et al. 2016; Hu et al. 2018, Table 4).
"""

from __future__ import annotations

import math

import torch

from unidgm.errors import DataError

from ._util import as_labels, as_tensor, batched_apply, module_device


def classification_accuracy(predict_fn, x, y, batch_size: int = 500) -> float:
    """Top-1 accuracy of ``predict_fn`` on (x, y), evaluated in batches without gradients.

    ``predict_fn(x_batch)`` may return logits/probabilities [B, K] (argmax is taken) or predicted labels
    [B]. An ``nn.Module`` is put in eval mode for the call and restored afterwards.
    """
    x = as_tensor(x, "x")
    y = as_labels(y, "y", x.shape[0])
    out = batched_apply(predict_fn, x, batch_size, module_device(getattr(predict_fn, "__self__", predict_fn)))
    if out.dim() == 2:
        pred = out.argmax(1)
    elif out.dim() == 1 and not torch.is_floating_point(out):
        pred = out
    else:
        raise DataError(f"predict_fn must return scores [B, K] or integer labels [B], got shape {list(out.shape)} "
                        f"and dtype {out.dtype}.")
    return float((pred.long() == y).float().mean())


def domain_adaptation_report(target_acc: float, source_only_acc: float) -> dict:
    """Domain-adaptation summary: target accuracy, the source-only baseline and the gain (target - source-only),
    plus the relative reduction of target error (gain / (1 - source-only), NaN when source-only is 1)."""
    for name, v in (("target_acc", target_acc), ("source_only_acc", source_only_acc)):
        if not (isinstance(v, (int, float)) and 0.0 <= float(v) <= 1.0):
            raise DataError(f"{name} must be an accuracy in [0, 1], got {v!r}; divide percentages by 100.")
    t, s = float(target_acc), float(source_only_acc)
    gain = t - s
    return {
        "target_accuracy": t,
        "source_only_accuracy": s,
        "gain": gain,
        "relative_error_reduction": gain / (1.0 - s) if s < 1.0 else math.nan,
    }
