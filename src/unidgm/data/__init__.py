"""Data layer: datasets as in-memory tensors, file readers, downloads, label budgets, batching, domain pairs.

    ds = get_dataset("mnist", "train", root="../shared/data")   # x [60000, 1, 28, 28] in [0, 1], y [60000]
    labelled, unlabelled = balanced_subset(ds, 600, seed=0)     # "1% of MNIST"
    for x, y in Batches(ds.x, ds.y, batch_size=64, generator=torch.Generator().manual_seed(0)): ...
"""

from .batching import Batches
from .dataset import Dataset
from .domains import describe_domain_pairs, domain_pair, domain_pair_names
from .fetch import SOURCES, data_root, download
from .registry import dataset_names, describe_datasets, get_dataset
from .transforms import balanced_subset, binarize, holdout

__all__ = [
    "Batches",
    "Dataset",
    "SOURCES",
    "balanced_subset",
    "holdout",
    "binarize",
    "data_root",
    "dataset_names",
    "describe_datasets",
    "describe_domain_pairs",
    "domain_pair",
    "domain_pair_names",
    "download",
    "get_dataset",
]
