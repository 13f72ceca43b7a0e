"""`AutoencoderTransformer`: any registered autoencoder as a scikit-learn transformer.

    >>> from latentforge import AutoencoderTransformer
    >>> ae = AutoencoderTransformer("stacked_ae", epochs=5, overrides=["model.hidden=[32,8]"])
    >>> codings = ae.fit_transform(X)           # X (n, n_features) -> (n, 8)
    >>> X_hat = ae.inverse_transform(codings)   # (n, n_features), in X's units
    >>> ae.score(X)                             # -mean reconstruction loss (higher is better)

Training goes through the one engine (`latentforge.api.train` with ``run_dir=False``) on
in-memory splits (no validation split): nothing is written to disk.
"""
from __future__ import annotations

import copy
import math
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import (FLOAT_DTYPES, check_array, check_is_fitted,
                                      validate_data)

SCALES = ("minmax", "none")
SOURCE = "in-memory array (AutoencoderTransformer)"
BATCH = 2048  # rows per inference batch


class AutoencoderTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """A registered latentforge autoencoder trained on a 2-D array; transform = its codings.

    Parameters
    ----------
    model : str, registered autoencoder name (``latentforge.available_models()``).
    recipe : str, the model's recipe (hyperparameters) to start from, e.g. "book", "fast".
    epochs, batch_size, lr : int, int, float or None; None keeps the recipe's value.
    overrides : sequence of ``"section.key=value"`` strings applied after the recipe, e.g.
        ``("model.hidden=[32,8]", "train.optimizer=adam")``. `epochs`, `batch_size`, `lr`,
        `random_state` and `device` are applied after them and win.
    scale : "minmax" (default) or "none".
        "minmax": each feature is mapped to [0, 1] with the training data's min and max
        (a constant feature only has its min subtracted); `inverse_transform` maps back.
        The dense models' default output is a sigmoid trained with binary cross-entropy,
        which needs targets in [0, 1], so for such models values of new data outside the
        training range are clipped to [0, 1] before encoding and scoring.
        "none": X goes to the model as is; a sigmoid-output model then requires X in [0, 1]
        (e.g. pixels / 255) and `fit` raises ValueError otherwise.
    sample_shape : tuple or None. The shape each row is reshaped to before the model, e.g.
        ``(1, 8, 8)`` to train ``conv_ae`` on flattened 8x8 images; None = ``(n_features,)``
        (dense models flatten anyway). Its product must equal n_features.
    random_state : int, RandomState or None. Seeds weight init, shuffling and noise
        (``train.seed``); an int gives identical results on CPU; None draws a new seed per fit.
    device : "cpu", "cuda", "mps" or "auto": where training runs (float32). The fitted model
        is kept on the CPU; transform / inverse_transform / score run a float64 copy of it,
        so a row's result does not depend on the other rows passed with it.

    Attributes
    ----------
    model_ : torch.nn.Module, the trained autoencoder (eval mode, CPU).
    config_ : latentforge RunConfig the model was trained with.
    history_ : list of dict, the engine's per-epoch metrics (train losses).
    n_features_in_ : int; feature_names_in_ : array of str, when X had column names.
    sample_shape_ : tuple, the model's input shape for one row.
    data_min_, data_scale_ : (n_features,) float64, the scaling ``x' = (x - min) / scale``.
    """

    def __init__(self, model="stacked_ae", recipe="book", epochs=None, batch_size=None,
                 lr=None, overrides=(), scale="minmax", sample_shape=None, random_state=0,
                 device="cpu"):
        self.model = model
        self.recipe = recipe
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.overrides = overrides
        self.scale = scale
        self.sample_shape = sample_shape
        self.random_state = random_state
        self.device = device

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, X, y=None):
        """Train on X (n_samples, n_features), float; y is ignored. Returns self."""
        X = validate_data(self, X, dtype=FLOAT_DTYPES)
        self.sample_shape_ = self._check_sample_shape(X.shape[1])
        self.config_ = self._build_config()
        self._fit_scaling(X)
        x = self._to_model(X, np.float32)
        from latentforge.api import train

        run = train(self.config_, run_dir=False, splits=_splits(x))
        self.model_, self.history_ = run.model, run.history
        self._n_features_out = int(self._encode(self.model_, x[:1]).shape[1])
        return self

    def _check_sample_shape(self, n_features: int) -> tuple[int, ...]:
        if self.sample_shape is None:
            return (n_features,)
        shape = tuple(int(s) for s in self.sample_shape)
        if math.prod(shape) != n_features:
            raise ValueError(f"sample_shape={shape} holds {math.prod(shape)} values but X has "
                             f"{n_features} features per row.")
        return shape

    def _build_config(self):
        """The recipe + overrides + this estimator's explicit parameters, type-checked."""
        from latentforge.config import build_config, set_value
        from latentforge.models.base import Autoencoder
        from latentforge.registry import get_spec

        if not issubclass(get_spec(self.model).model_cls, Autoencoder):
            raise ValueError(f"Model '{self.model}' is not an autoencoder; "
                             "AutoencoderTransformer needs encode/decode.")
        extra = [self.overrides] if isinstance(self.overrides, str) else list(self.overrides)
        cfg = build_config(self.model, self.recipe, overrides=extra)
        values = {"train.epochs": self.epochs, "train.batch_size": self.batch_size,
                  "train.lr": self.lr, "train.seed": _seed(self.random_state),
                  "train.device": self.device, "train.progress": False, "data.source": SOURCE}
        for key, value in values.items():
            if value is not None:
                value = value.item() if isinstance(value, np.generic) else value
                set_value(cfg, key, value, origin=f"AutoencoderTransformer {key}")
        return cfg

    def _fit_scaling(self, X: np.ndarray) -> None:
        """Set data_min_ / data_scale_ (n_features,) from the training data."""
        if self.scale not in SCALES:
            raise ValueError(f"scale={self.scale!r} is not one of {SCALES}.")
        n = X.shape[1]
        if self.scale == "none":
            self.data_min_, self.data_scale_ = np.zeros(n), np.ones(n)
            if self._sigmoid_output() and (X.min() < 0 or X.max() > 1):
                raise ValueError("scale='none' with a sigmoid-output model needs X in [0, 1] "
                                 f"(got {X.min():.4g}..{X.max():.4g}); use scale='minmax'.")
            return
        low = X.min(axis=0).astype(np.float64)
        span = X.max(axis=0).astype(np.float64) - low
        self.data_min_, self.data_scale_ = low, np.where(span > 0, span, 1.0)

    def _sigmoid_output(self) -> bool:
        return getattr(self.config_.model, "output", None) == "sigmoid"

    # -- using the model -------------------------------------------------------------------

    def transform(self, X):
        """Codings of X (n_samples, n_features) -> (n_samples, coding_dim), X's float dtype."""
        X = self._check_input(X)
        net = self._float64_model()
        return self._encode(net, self._to_model(X)).numpy().astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        """Reconstructions of codings X (n_samples, coding_dim) -> (n_samples, n_features),
        in the units of the training data (decoder + output activation, then unscaled)."""
        check_is_fitted(self)
        Z = check_array(X, dtype=FLOAT_DTYPES)
        if Z.shape[1] != self._n_features_out:
            raise ValueError(f"X has {Z.shape[1]} features, but {type(self).__name__} "
                             f"produces {self._n_features_out} codings.")
        z = torch.from_numpy(Z.astype(np.float64))
        out = _batched(self._float64_model().decode, z).reshape(len(Z), -1).numpy()
        return (out * self.data_scale_ + self.data_min_).astype(Z.dtype, copy=False)

    def score(self, X, y=None):
        """Negative mean reconstruction loss of X (n_samples, n_features), a float.

        The model's own reconstruction loss (binary cross-entropy per element for sigmoid
        outputs, else MSE), computed on the scaled data, without regularization terms.
        Higher is better, so GridSearchCV can select on it.
        """
        x, net = self._to_model(self._check_input(X)), self._float64_model()
        total = 0.0
        with torch.inference_mode():
            for start in range(0, len(x), BATCH):
                xb = x[start:start + BATCH]
                loss = net.reconstruction_loss(net(xb), xb)
                total += float(loss) * len(xb)
        return -total / len(x)

    def _check_input(self, X) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, dtype=FLOAT_DTYPES, reset=False)

    def _to_model(self, X: np.ndarray, dtype=np.float64) -> torch.Tensor:
        """Scaled tensor (n_samples, *sample_shape_) for the model."""
        x = (X - self.data_min_) / self.data_scale_
        if self._sigmoid_output():
            x = np.clip(x, 0.0, 1.0)
        x = np.ascontiguousarray(x, dtype=dtype).reshape(len(X), *self.sample_shape_)
        return torch.from_numpy(x)

    def _float64_model(self) -> torch.nn.Module:
        """A float64 copy of model_ for inference: float32 kernels round a row differently
        depending on the other rows of its batch (~1e-7), float64 makes that negligible,
        so transforming a row does not depend on which rows come with it."""
        return copy.deepcopy(self.model_).double().eval()

    @staticmethod
    def _encode(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        """(n, *sample_shape_) -> codings (n, coding_dim); x has net's dtype."""
        return _batched(net.encode, x).reshape(len(x), -1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = self.random_state is None or self.device != "cpu"
        return tags


def _batched(fn, x: torch.Tensor) -> torch.Tensor:
    """``fn`` over ``x`` in batches of BATCH rows, without autograd, concatenated."""
    with torch.inference_mode():
        return torch.cat([fn(x[i:i + BATCH]) for i in range(0, len(x), BATCH)])


def _seed(random_state) -> int:
    """An int seed: the int itself, else one drawn from the RandomState (or a fresh one)."""
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _splits(x: torch.Tensor):
    """Engine `Splits`: all of ``x`` (n, *sample_shape) for training, no valid/test data."""
    from latentforge.data.dataset import Splits, TensorData

    empty = TensorData(x[:0], None)
    return Splits(SOURCE, TensorData(x, None), empty, None, {"sizes": {"train": len(x)}})
