"""The undercomplete linear autoencoder finds PCA's principal plane (book ch. 17)."""
import numpy as np
import torch

import latentforge as lf
from latentforge.evaluation.metrics import pca_reconstruction_mse, principal_angles_deg


def test_principal_angles_of_known_planes():
    xy = np.array([[1, 0], [0, 1], [0, 0]], float)
    tilted = np.array([[1, 0], [0, np.cos(0.3)], [0, np.sin(0.3)]])
    assert np.allclose(principal_angles_deg(xy, xy), 0, atol=1e-6)
    assert np.allclose(principal_angles_deg(xy, tilted), [0, np.degrees(0.3)], atol=1e-6)


def test_pca_mse_of_planar_data_is_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2)) @ rng.normal(size=(2, 3)) + 5.0
    assert pca_reconstruction_mse(x, 2) < 1e-20
    assert pca_reconstruction_mse(x, 1) > 1e-3


def test_linear_ae_fast_recipe_matches_pca(tmp_path):
    run = lf.train("linear_ae", "fast", overrides=["train.progress=false"],
                   run_dir=tmp_path / "lin")
    x = run.data().train.x.numpy().astype(np.float64)
    _, _, vt = np.linalg.svd(x - x.mean(0))
    decoder_w = run.model.decoder[0][0].weight.detach().numpy()  # (3, 2): spans the codes' image
    angles = principal_angles_deg(decoder_w, vt[:2].T)
    with torch.no_grad():
        recon = run.model(torch.from_numpy(x).float()).numpy()
    mse = float(np.mean((recon - x) ** 2))
    assert angles.max() < 1.0, angles
    assert mse <= 1.01 * pca_reconstruction_mse(x, 2)
