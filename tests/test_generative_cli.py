"""Using generative runs: per-epoch sample grids, `generate`, `interpolate` and `evaluate`
(likelihood for VAEs; sample metrics need Fashion-MNIST, so on digits they are skipped)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import latentforge as lf
from conftest import assert_one_error_line, tiny_overrides
from latentforge.generation.sampling import draw_samples


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs on 8x8 digits: a VAE, a GAN, a conditional DCGAN and a stacked AE."""
    root = tmp_path_factory.mktemp("gen")
    specs = {"vae": ("vae", []), "gan": ("gan", []),
             "cdcgan": ("dcgan", ["model.conditional=true"]), "ae": ("stacked_ae", [])}
    out = {}
    for key, (name, extra) in specs.items():
        lf.train(name, overrides=tiny_overrides(name, *extra, epochs=2), run_dir=root / key)
        out[key] = root / key
    return out


@pytest.mark.parametrize("key", ["vae", "gan", "cdcgan"])
def test_training_writes_a_fixed_noise_grid_each_epoch(runs, key):
    grids = sorted((runs[key] / "figures" / "samples").glob("epoch-*.png"))
    assert [g.name for g in grids] == ["epoch-001.png", "epoch-002.png"]


def test_autoencoders_get_no_sample_grid(runs):
    assert not (runs["ae"] / "figures" / "samples").exists()


@pytest.mark.parametrize("key", ["vae", "gan", "cdcgan"])
def test_draw_samples_is_seeded_and_in_range(runs, key):
    import torch

    model = lf.load_run(runs[key]).model
    a, b = draw_samples(model, 30, seed=3, batch_size=7), draw_samples(model, 30, seed=3,
                                                                      batch_size=7)
    assert a.shape == (30, 1, 8, 8) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b)
    assert not np.allclose(a.numpy(), draw_samples(model, 30, seed=4).numpy())


def test_generate_png_and_npy(cli, runs, tmp_path):
    code, out, _ = cli(["generate", runs["gan"], "--n", "12", "--out", tmp_path / "g.png",
                        "--npy", tmp_path / "g.npy", "-q"])
    assert code == 0 and (tmp_path / "g.png").stat().st_size > 500
    images = np.load(tmp_path / "g.npy")
    assert images.shape == (12, 1, 8, 8) and images.min() >= 0 and images.max() <= 1


def test_generate_label_of_a_conditional_gan(cli, runs, tmp_path):
    code, _, _ = cli(["generate", runs["cdcgan"], "--n", "6", "--label", "3", "--npy",
                      tmp_path / "c3.npy", "-q"])
    assert code == 0
    code, _, _ = cli(["generate", runs["cdcgan"], "--n", "6", "--label", "5", "--npy",
                      tmp_path / "c5.npy", "-q"])
    assert not np.allclose(np.load(tmp_path / "c3.npy"), np.load(tmp_path / "c5.npy"))


@pytest.mark.parametrize("argv,fragments", [
    (["generate", "gan", "--label", "1"], ["needs a conditional model"]),
    (["generate", "cdcgan", "--label", "10"], ["--label must be in [0, 9]"]),
    (["generate", "gan", "--n", "0"], ["--n must be at least 1"]),
    (["generate", "gan", "--out", "x.jpg"], ["must end in .png"]),
    (["generate", "ae"], ["generate needs a model with a generator", "Models that can:",
                          "gan"]),
    (["generate", "vae", "--label", "1"], ["needs a conditional model",
                                           "models with a model.conditional option: "]),
    (["pretrain-classifier", "gan"], ["needs a model with an encoder", "stacked_ae"]),
    (["probe", "gan"], ["needs a model with an encoder", "stacked_ae"]),
    (["hashes", "gan"], ["needs a model with binary hash codes", "hashing_ae"]),
    (["search", "gan"], ["needs a model with an encoder"]),
    (["interpolate", "gan", "--steps", "1"], ["--steps must be >= 2"]),
    (["evaluate", "gan", "--samples", "-1"], ["must be >= 0"]),
])
def test_bad_generative_input(cli, runs, argv, fragments):
    code, _, err = cli([argv[0], runs[argv[1]], *argv[2:]])
    assert code == 2
    line = assert_one_error_line(err, *fragments)
    if argv[1] != "gan" and "--label" in argv:  # the VAE has no such option to suggest
        assert "model.conditional=true" not in line


@pytest.mark.parametrize("key", ["vae", "gan", "ae"])
@pytest.mark.parametrize("method", ["lerp", "slerp", "grid", "traverse"])
def test_interpolate_every_method(cli, runs, key, method, tmp_path):
    out = tmp_path / f"{key}-{method}.png"
    code, stdout, _ = cli(["interpolate", runs[key], "--method", method, "--steps", "5",
                           "--pairs", "2", "--out", out, "-q"])
    assert code == 0 and out.stat().st_size > 500, stdout


def test_interpolation_paths_end_at_the_real_images_codings(runs):
    import torch

    from latentforge.generation.paths import interpolation_grid

    run = lf.load_run(runs["vae"])
    images, cols = interpolation_grid(run, "lerp", steps=5, pairs=2, seed=1)
    assert images.shape == (10, 1, 8, 8) and cols == 5
    data = run.split("valid")
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))[:4]
    with torch.inference_mode():
        ends = run.model.decode(run.encode(data.batch(idx)))
    assert torch.allclose(images[0], ends[0], atol=1e-5)   # pair 0 starts at item 0
    assert torch.allclose(images[4], ends[2], atol=1e-5)   # and ends at item 2



@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_every_interpolation_row_runs_between_its_decoded_end_points(runs, method):
    import torch

    from latentforge.tasks import interpolate

    run = lf.load_run(runs["ae"])
    result = interpolate(run, method, steps=5, pairs=3, seed=2)
    rows = result.images.reshape(3, 5, *result.images.shape[1:])
    data = run.split("valid")
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(2))[:6]
    with torch.inference_mode():
        ends = run.model.decode(run.encode(data.batch(idx))).numpy()
    np.testing.assert_allclose(rows[:, 0], ends[:3], atol=1e-5)   # row r starts at item r
    np.testing.assert_allclose(rows[:, -1], ends[3:], atol=1e-5)  # and ends at item r + 3
    assert np.abs(rows[:, 2] - rows[:, 0]).max() > 1e-3  # and moves in between


def test_grid_keeps_the_prior_codings_at_its_corners(runs):
    import torch

    from latentforge.tasks import interpolate

    run = lf.load_run(runs["vae"])
    result = interpolate(run, "grid", seed=3)
    assert result.images.shape[0] == 35 and result.n_cols == 7
    codes = torch.randn(12, run.model.coding_dim, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        corners = run.model.decode(codes[[0, 3, 8, 11]]).numpy()
    np.testing.assert_allclose(result.images[[0, 6, 28, 34]], corners, atol=1e-5)


def test_each_traverse_row_sweeps_its_own_dimension(runs):
    import torch

    from latentforge.tasks import interpolate

    run = lf.load_run(runs["vae"])
    steps, dim = 4, run.model.coding_dim
    result = interpolate(run, "traverse", steps=steps, seed=0)
    assert result.images.shape[0] == min(10, dim) * steps and result.n_cols == steps
    data = run.split("valid")
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:1]
    z = run.encode(data.batch(idx))[0]
    for d in range(min(10, dim)):
        codes = z.repeat(steps, 1)
        codes[:, d] = torch.linspace(-3, 3, steps)  # prior units: the VAE has a prior
        with torch.inference_mode():
            expected = run.model.decode(codes).numpy()
        np.testing.assert_allclose(result.images[d * steps:(d + 1) * steps], expected,
                                   atol=1e-5)


def test_evaluate_vae_reports_likelihood(cli, runs):
    code, out, _ = cli(["evaluate", runs["vae"], "--k", "5", "-q"])
    assert code == 0 and "iwae_nll_nats" in out
    saved = json.loads((runs["vae"] / "evaluation.json").read_text())
    assert saved["likelihood"]["k"] == 5
    assert saved["likelihood"]["iwae_nll_nats"] > 0


def test_evaluate_gan_on_digits_skips_sample_metrics(cli, runs):
    code, out, _ = cli(["evaluate", runs["gan"], "-q"])
    assert code == 0 and "sample metrics skipped" in out and "d_loss" in out
