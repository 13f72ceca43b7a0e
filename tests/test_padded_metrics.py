"""Sample metrics of runs on data padded by data.pad_to: measured on the unpadded centre
when the feature network takes the original size, on the whole image when it takes the
padded one."""
from __future__ import annotations

import pytest
import torch

import latentforge as lf
from conftest import make_tiny_cfg
from latentforge.errors import RunError
from latentforge.evaluation.featurenet import FeatureCNN
from latentforge.evaluation.sample_quality import (metric_shape, network_for, sample_quality,
                                                   unpadded)


@pytest.fixture(scope="module")
def padded_run(tmp_path_factory):
    cfg = make_tiny_cfg("dcgan", "data.pad_to=12", "model.g_channels=[8]",
                        "model.d_channels=[8]", "model.latent_dim=4", epochs=1)
    return lf.train(cfg, run_dir=tmp_path_factory.mktemp("padded") / "run")


def test_unpadded_inverts_the_padding(padded_run):
    pad = padded_run.data().info["pad_to"]
    assert pad == {"size": 12, "from": [8, 8], "top": 2, "left": 2}
    from latentforge.data import DataConfig, load_data

    plain = load_data(DataConfig(**{**padded_run.config.data.__dict__, "pad_to": None}))
    assert torch.equal(unpadded(padded_run.split("test").x, pad), plain.test.x)
    assert unpadded(plain.test.x, None) is plain.test.x


def test_metrics_see_the_centre_for_a_network_of_the_original_size(padded_run):
    small, large = FeatureCNN(input_shape=(1, 8, 8)), FeatureCNN(input_shape=(1, 12, 12))
    assert metric_shape(padded_run, small) == (1, 8, 8)
    assert metric_shape(padded_run, large) == (1, 12, 12)
    assert metric_shape(padded_run) == (1, 8, 8)  # the shipped network's case
    for net in (small, large):
        result = sample_quality(padded_run, 64, net=net)
        assert result["n_samples"] == 64 and result["fid"] == result["fid"]  # finite, ran


def test_without_a_network_the_reason_names_the_unpadded_shape(padded_run):
    with pytest.raises(RunError, match=r"\(1, 8, 8\)"):
        network_for(padded_run)
