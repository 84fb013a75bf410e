"""Label budgets for semi-supervised protocols and binarisation of [0, 1] images."""

from __future__ import annotations

import torch

from unidgm.errors import ConfigError, DataError, did_you_mean

from .dataset import Dataset

FIXED_BINARIZATION_SEED = 0
BINARIZE_MODES = ("dynamic", "fixed", "threshold")


def balanced_subset(ds: Dataset, n: int, seed: int) -> tuple[Dataset, Dataset]:
    """(labelled, rest): ``n`` examples with exactly n/num_classes per class, drawn with ``seed``, and
    every other example.

    The paper's "1% of MNIST" is ``balanced_subset(mnist_train, 600, seed)``. ``rest`` keeps its labels
    only so the tensors line up; they are NOT to be used for training (it is the unlabelled set).
    Both parts keep the original order of ``ds``.
    """
    if ds.y is None or not ds.num_classes:
        raise DataError(f"balanced_subset needs labels, but dataset '{ds.name}' has none; use a labelled dataset")
    k = ds.num_classes
    if not isinstance(n, int) or n <= 0 or n % k:
        suggest = k * max(1, n // k) if isinstance(n, int) else k
        raise DataError(
            f"balanced_subset: n={n} must be a positive multiple of the {k} classes of '{ds.name}' so every class "
            f"gets the same count, e.g. n={suggest}"
        )
    per_class = n // k
    counts = torch.bincount(ds.y.cpu(), minlength=k)
    if int(counts.min()) < per_class:
        c = int(counts.argmin())
        raise DataError(
            f"balanced_subset: {per_class} labelled examples per class requested, but class {c} of '{ds.name}' "
            f"has only {int(counts[c])}; lower n to at most {int(counts.min()) * k}"
        )
    mask = _balanced_mask(ds.y, k, per_class, seed)
    labelled_idx = torch.nonzero(mask, as_tuple=True)[0]
    rest_idx = torch.nonzero(~mask, as_tuple=True)[0]
    return ds.subset(labelled_idx), ds.subset(rest_idx)


def _balanced_mask(y: torch.Tensor, k: int, per_class: int, seed: int) -> torch.Tensor:
    """``per_class`` examples of each of ``k`` classes, drawn with ``seed``, as a boolean mask."""
    g = torch.Generator().manual_seed(int(seed))
    y = y.cpu()
    chosen = []
    for c in range(k):  # one short loop over classes, no per-example Python work
        members = torch.nonzero(y == c, as_tuple=True)[0]
        chosen.append(members[torch.randperm(len(members), generator=g)[:per_class]])
    mask = torch.zeros(len(y), dtype=torch.bool)
    mask[torch.cat(chosen)] = True
    return mask


VALIDATION_SEED = 20180101  # one validation split per dataset, whatever the run's seed: runs compare on it


def holdout(ds: Dataset, n: int, seed: int = VALIDATION_SEED) -> tuple[Dataset, Dataset, torch.Tensor]:
    """(rest, validation, validation indices): ``n`` examples held out of ``ds`` for model selection.

    Class-balanced when ``ds`` is labelled and ``n`` is a multiple of its classes (else a uniform draw), with
    a fixed seed, so that every run and seed on the same data validates on the same examples; ``rest`` is
    what training subsets (``n_train``) are then drawn from, so the two never overlap.
    """
    if not isinstance(n, int) or not 0 < n < len(ds):
        raise DataError(f"a validation split of {n} examples needs 0 < val < {len(ds)} (the training examples of "
                        f"'{ds.name}'); lower val, or pass val=0 for none")
    k = ds.num_classes
    if ds.y is not None and k and n % k == 0 and int(torch.bincount(ds.y.cpu(), minlength=k).min()) > n // k:
        mask = _balanced_mask(ds.y, k, n // k, seed)
    else:
        g = torch.Generator().manual_seed(int(seed))
        mask = torch.zeros(len(ds), dtype=torch.bool)
        mask[torch.randperm(len(ds), generator=g)[:n]] = True
    idx = torch.nonzero(mask, as_tuple=True)[0]
    return ds.subset(~mask), ds.subset(idx), idx


def binarize(
    x: torch.Tensor,
    mode: str = "dynamic",
    generator: torch.Generator | None = None,
    seed: int = FIXED_BINARIZATION_SEED,
) -> torch.Tensor:
    """Binary {0, 1} copy of intensities ``x`` in [0, 1], same dtype and device.

    - ``dynamic``: a fresh Bernoulli(x) draw from ``generator`` (resampled every call, as for training).
    - ``fixed``: Bernoulli(x) from a generator seeded with ``seed``: identical on every call and device;
      the recorded "fixed binarisation of the test set".
    - ``threshold``: x > 0.5.
    """
    if mode not in BINARIZE_MODES:
        raise ConfigError(f"unknown binarize mode '{mode}'." + did_you_mean(str(mode), BINARIZE_MODES))
    if not x.is_floating_point():
        raise DataError(f"binarize expects float intensities in [0, 1], got dtype {x.dtype}; use x.float() / 255")
    if mode == "threshold":
        return (x > 0.5).to(x.dtype)
    # Range check on CPU only: on an accelerator it would force a device sync every batch, and
    # torch.bernoulli itself rejects out-of-range probabilities there.
    if x.device.type == "cpu" and x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise DataError(
            f"binarize expects intensities in [0, 1], got values in [{float(x.min()):.3g}, {float(x.max()):.3g}]; "
            "scale the images to [0, 1] first"
        )
    if mode == "fixed":
        # Drawn on the CPU so the result does not depend on the device's random number generator.
        g = torch.Generator().manual_seed(int(seed))
        return torch.bernoulli(x.detach().cpu(), generator=g).to(device=x.device, dtype=x.dtype)
    return torch.bernoulli(x, generator=generator)
