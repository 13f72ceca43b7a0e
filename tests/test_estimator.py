"""`AutoencoderTransformer`: scikit-learn's estimator checks, pipelines, grid search,
scaling, reproducibility. Tiny models (hidden [4, 2] .. [16, 8]) and 1-3 epochs on digits."""
import json
import pickle
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import latentforge as lf
from latentforge.estimator import AutoencoderTransformer
from latentforge.registry import get_spec

TINY = ("model.hidden=[4,2]",)
SMALL = ("model.hidden=[16,8]",)




@pytest.fixture(scope="module")
def digits():
    """sklearn's 8x8 digits, pixels / 16 in [0, 1]: X (1797, 64), y (1797,)."""
    data = load_digits()
    return data.data / 16.0, data.target


@parametrize_with_checks([AutoencoderTransformer(epochs=1, overrides=TINY)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_transform_inverse_transform_shapes_and_dtypes(digits):
    X = digits[0][:200]
    ae = AutoencoderTransformer(epochs=1, overrides=SMALL).fit(X)
    Z = ae.transform(X)
    assert Z.shape == (200, 8) and Z.dtype == np.float64
    assert ae.transform(X.astype(np.float32)).dtype == np.float32
    X_hat = ae.inverse_transform(Z)
    assert X_hat.shape == X.shape and np.isfinite(X_hat).all()
    assert ae.n_features_in_ == 64 and isinstance(ae.model_, torch.nn.Module)
    assert list(ae.get_feature_names_out()) == [f"autoencodertransformer{i}" for i in range(8)]
    with pytest.raises(ValueError, match="codings"):
        ae.inverse_transform(np.zeros((3, 5)))


def test_training_improves_reconstruction(digits):
    X = digits[0][:600]
    untrained = AutoencoderTransformer(epochs=0, overrides=SMALL).fit(X)
    trained = AutoencoderTransformer(epochs=3, overrides=SMALL).fit(X)
    assert len(trained.history_) == 3 and untrained.history_ == []
    assert trained.score(X) > untrained.score(X) + 0.05  # BCE per pixel, ~0.7 untrained

    def mse(ae):
        return np.mean((ae.inverse_transform(ae.transform(X)) - X) ** 2)

    assert mse(trained) < 0.8 * mse(untrained)


def test_random_state_gives_reproducible_transforms(digits):
    X = digits[0][:150]

    def codings(seed):
        return AutoencoderTransformer(epochs=1, overrides=TINY, random_state=seed).fit_transform(X)

    assert np.array_equal(codings(3), codings(3))
    assert not np.allclose(codings(3), codings(4))


def test_pickle_round_trip(digits):
    X = digits[0][:100]
    ae = AutoencoderTransformer(epochs=1, overrides=TINY).fit(X)
    again = pickle.loads(pickle.dumps(ae))
    assert np.array_equal(again.transform(X), ae.transform(X))


def test_pipeline_on_digits_beats_chance(digits):
    X_train, X_test, y_train, y_test = train_test_split(*digits, test_size=0.3, random_state=0)
    ae = AutoencoderTransformer(epochs=2, overrides=("model.hidden=[32,16]",))
    pipe = Pipeline([("ae", ae),
                     ("clf", LogisticRegression(max_iter=500))])
    assert pipe.fit(X_train, y_train).score(X_test, y_test) > 0.5  # chance 0.1; ~0.85


def test_grid_search_selects_by_reconstruction_score(digits):
    X = digits[0][:300]
    grid = GridSearchCV(AutoencoderTransformer(epochs=2, overrides=TINY),
                        {"lr": [1e-6, 1.0]}, cv=2).fit(X)
    scores = grid.cv_results_["mean_test_score"]
    assert grid.best_params_ == {"lr": 1.0} and scores[1] > scores[0]
    assert grid.best_estimator_.transform(X).shape == (300, 2)


def test_minmax_scaling_is_inverted_in_input_units(digits):
    X = digits[0][:200] * 50.0 - 7.0  # no longer in [0, 1]
    ae = AutoencoderTransformer(epochs=1, overrides=SMALL).fit(X)
    assert np.allclose(ae.data_min_, X.min(0)) and (ae.data_scale_ > 0).all()
    X_hat = ae.inverse_transform(ae.transform(X))
    assert X_hat.min() >= X.min() - 1e-6 and X_hat.max() <= X.max() + 1e-6
    assert X_hat.max() > 1.0  # back in the input's units, not the [0, 1] model space


def test_scale_none_needs_unit_range_for_sigmoid_output(digits):
    X = digits[0][:50]
    AutoencoderTransformer(epochs=1, overrides=TINY, scale="none").fit(X)
    with pytest.raises(ValueError, match="scale='minmax'"):
        AutoencoderTransformer(epochs=1, overrides=TINY, scale="none").fit(X * 16)
    with pytest.raises(ValueError, match="scale="):
        AutoencoderTransformer(epochs=1, overrides=TINY, scale="standard").fit(X)


@pytest.mark.parametrize("params, match", [
    ({"model": "stacked_aee"}, "Did you mean 'stacked_ae'"),
    ({"recipe": "nope"}, "no recipe 'nope'"),
    ({"overrides": ("model.hiden=[4]",)}, "unknown key"),
    ({"lr": "fast"}, "train.lr"),
    ({"sample_shape": (1, 7, 7)}, "sample_shape"),
])
def test_bad_parameters_raise_value_error(digits, params, match):
    with pytest.raises(ValueError, match=match):
        AutoencoderTransformer(**{"epochs": 1, "overrides": TINY, **params}).fit(digits[0][:20])


@pytest.mark.parametrize("name", ["linear_ae", "tied_ae", "denoising_ae", "sparse_ae",
                                  "hashing_ae"])
def test_dense_family_models(digits, name):
    tiny = [f"{section}.{key}={json.dumps(value)}"
            for section, values in get_spec(name).tiny.items() for key, value in values.items()]
    X = digits[0][:80]
    ae = AutoencoderTransformer(name, epochs=1, overrides=tiny).fit(X)
    Z = ae.transform(X)
    assert Z.shape == (80, get_spec(name).tiny["model"]["hidden"][-1])
    assert ae.inverse_transform(Z).shape == X.shape and np.isfinite(ae.score(X))


def test_sample_shape_and_numpy_scalar_params(digits):
    X = digits[0][:60]
    ae = AutoencoderTransformer(epochs=np.int64(1), lr=np.float64(0.5), overrides=TINY,
                                sample_shape=(1, 8, 8)).fit(X)
    assert ae.sample_shape_ == (1, 8, 8) and ae.model_.sample_shape == (1, 8, 8)
    assert ae.config_.train.lr == 0.5 and ae.transform(X).shape == (60, 2)


def test_fit_leaves_no_run_directory(digits, in_tmp, monkeypatch):
    scratch = in_tmp / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    AutoencoderTransformer(epochs=1, overrides=TINY).fit(digits[0][:40])
    assert list(scratch.iterdir()) == [] and not (in_tmp / "runs").exists()


def test_lazy_export_keeps_import_light():
    assert lf.AutoencoderTransformer is AutoencoderTransformer
    code = ("import sys, latentforge; "
            "assert not {'torch', 'sklearn'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
