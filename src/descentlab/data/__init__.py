"""Small datasets held in memory as tensors: MNIST, Fashion-MNIST, MNIST-1D and scikit-learn's digits.

>>> from descentlab.data import load_dataset
>>> splits = load_dataset("mnist1d", val_fraction=0.1, seed=0)   # doctest: +SKIP
>>> splits.x_train.shape, splits.x_val.shape, splits.x_test.shape  # doctest: +SKIP
(torch.Size([3600, 40]), torch.Size([400, 40]), torch.Size([1000, 40]))
"""

from descentlab.data.datasets import DATASETS, Splits, load_dataset
from descentlab.data.split import stratified_split

__all__ = ["DATASETS", "Splits", "load_dataset", "stratified_split"]
