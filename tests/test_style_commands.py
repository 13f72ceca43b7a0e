"""The StyleGAN commands: style groups and mixing (pure), the style-mix grid against
synthesize() of hand-built styles, `generate --truncation`, `interpolate --space w`,
arithmetic in w space, and the commands' exit codes. The model tests are skipped only
when no `stylegan` model is registered."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import latentforge as lf
from conftest import assert_one_error_line, tiny_overrides
from latentforge.generation.styles import (decode_styles, mix_styles, prior_w,
                                           style_groups)
from latentforge.registry import names

needs_stylegan = pytest.mark.skipif("stylegan" not in names(),
                                    reason="no stylegan model registered")


# ------------------------------------------------------------------ pure

@pytest.mark.parametrize("side,expected", [
    (8, [("coarse", (4,), (0, 1)), ("fine", (8,), (2, 3))]),
    (16, [("coarse", (4,), (0, 1)), ("middle", (8,), (2, 3)), ("fine", (16,), (4, 5))]),
    (32, [("coarse", (4, 8), (0, 1, 2, 3)), ("middle", (16,), (4, 5)),
          ("fine", (32,), (6, 7))]),
    (128, [("coarse", (4, 8), (0, 1, 2, 3)), ("middle", (16, 32), (4, 5, 6, 7)),
           ("fine", (64, 128), (8, 9, 10, 11))]),
])
def test_style_groups(side, expected):
    resolutions = [r for k in range(2, side.bit_length()) for r in (2 ** k, 2 ** k)]
    groups = style_groups(resolutions)
    assert [(g.name, g.resolutions, g.layers) for g in groups] == expected
    assert sorted(i for g in groups for i in g.layers) == list(range(len(resolutions)))
    assert groups[0].label == ("coarse (4 px)" if side < 32 else "coarse (4-8 px)")


def test_mix_styles_copies_b_at_the_layers():
    w_a, w_b = torch.zeros(2, 3), torch.ones(2, 3)
    ws = mix_styles(w_a, w_b, (1, 2), 4)
    assert ws.shape == (2, 4, 3)
    assert ws[:, [1, 2]].eq(1).all() and ws[:, [0, 3]].eq(0).all()


# ------------------------------------------------------------------ with a tiny stylegan

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs on 8x8 digits: a stylegan and a VAE."""
    root = tmp_path_factory.mktemp("styles")
    for name in ("stylegan", "vae"):
        lf.train(name, overrides=tiny_overrides(name, epochs=1), run_dir=root / name)
    return {name: root / name for name in ("stylegan", "vae")}


@needs_stylegan
def test_style_mix_cells_are_synthesize_of_hand_built_styles(runs):
    from latentforge.tasks.style_mix import style_mix

    run = lf.load_run(runs["stylegan"])
    model = run.model
    result = style_mix(run, rows=2, cols=3, seed=5)
    z = torch.randn(5, model.coding_dim, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        w = model.mapping(z)
    w_a, w_b = w[:3], w[3:]
    assert np.allclose(result.w_a, w_a.numpy()) and np.allclose(result.w_b, w_b.numpy())
    groups = style_groups(model.style_resolutions)
    assert [g.layers for g in result.groups] == [g.layers for g in groups]
    assert result.mixed.shape == (len(groups), 2, 3, *model.sample_shape)

    def synth(ws):
        with torch.no_grad():
            return model.synthesize(ws[None], generator=torch.Generator().manual_seed(0))[0]

    for g, group in enumerate(groups):
        for b in range(2):
            for a in range(3):
                ws = w_a[a].repeat(model.n_styles, 1)  # A everywhere ...
                ws[list(group.layers)] = w_b[b]       # ... but B in this group
                assert torch.allclose(torch.from_numpy(result.mixed[g, b, a]), synth(ws),
                                      atol=1e-5)
    assert torch.allclose(torch.from_numpy(result.sources_a[1]), synth(w_a[1]), atol=1e-5)
    assert torch.allclose(torch.from_numpy(result.sources_b[0]), synth(w_b[0]), atol=1e-5)


@needs_stylegan
def test_truncation_zero_gives_the_mean_w_image(runs):
    from latentforge.tasks import generate

    run = lf.load_run(runs["stylegan"])
    with torch.no_grad():  # no noise: the images depend on w only
        for name, p in run.model.generator.named_parameters():
            if "noise" in name:
                p.zero_()
    images = generate(run, 6, seed=1, truncation=0.0)
    mean_image = decode_styles(run.model, run.model.mean_w[None]).numpy()
    assert np.allclose(images, mean_image, atol=1e-5)
    untruncated = generate(run, 6, seed=1)
    assert np.array_equal(generate(run, 6, seed=1, truncation=1.0), untruncated)
    assert not np.allclose(untruncated, mean_image, atol=1e-3)


@needs_stylegan
def test_w_space_interpolation_runs_between_decoded_prior_w(runs):
    from latentforge.generation.paths import interpolation_grid

    run = lf.load_run(runs["stylegan"])
    images, cols = interpolation_grid(run, "lerp", steps=4, pairs=2, seed=3, space="w")
    assert images.shape == (8, *run.model.sample_shape) and cols == 4
    ends = prior_w(run.model, 4, 3)
    decoded = decode_styles(run.model, ends)
    assert torch.allclose(images[0], decoded[0], atol=1e-5)   # pair 0 starts at w 0
    assert torch.allclose(images[3], decoded[2], atol=1e-5)   # and ends at w 2
    middle = decode_styles(run.model, ((ends[0] + ends[2]) / 2)[None])
    z_images, _ = interpolation_grid(run, "lerp", steps=4, pairs=2, seed=3, space="z")
    assert not torch.allclose(images, z_images, atol=1e-4)
    assert torch.allclose(interpolation_grid(run, "lerp", steps=3, pairs=2, seed=3,
                                             space="w")[0][1], middle[0], atol=1e-5)


class Brightness(torch.nn.Module):
    """A stand-in classifier: class k = the k-th tenth of the mean pixel value."""

    def forward(self, x):
        centres = (torch.arange(10, dtype=torch.float32) + 0.5) / 10
        return -(x.flatten(1).mean(1, keepdim=True) - centres) ** 2


@needs_stylegan
def test_arithmetic_averages_w(runs):
    from latentforge.tasks.arithmetic import latent_arithmetic

    run = lf.load_run(runs["stylegan"])
    net = Brightness()
    w = prior_w(run.model, 300, 0)
    labels = net(decode_styles(run.model, w)).argmax(1)
    a, b = torch.bincount(labels, minlength=10).argsort(descending=True)[:2].tolist()
    result = latent_arithmetic(run, [str(a), "-", str(b)], n=300, net=net)
    expected = decode_styles(run.model, (w[labels == a].mean(0) - w[labels == b].mean(0))[None])
    assert result.space == "w"
    assert torch.allclose(torch.from_numpy(result.results[0]), expected[0], atol=1e-5)


@needs_stylegan
def test_cli_commands_write_their_figures(cli, runs, tmp_path):
    sg = runs["stylegan"]
    for argv, out in ((["generate", sg, "--truncation", "0.7", "--n", "8"], "g.png"),
                      (["style-mix", sg, "--rows", "2", "--cols", "2"], "m.png"),
                      (["interpolate", sg, "--space", "w", "--steps", "3", "--pairs", "1"],
                       "i.png"),
                      (["interpolate", sg, "--space", "w", "--method", "traverse",
                        "--steps", "3"], "t.png")):
        code, stdout, err = cli([*argv, "--out", tmp_path / out, "-q"])
        assert code == 0, err
        assert (tmp_path / out).stat().st_size > 500 and "wrote" in stdout
    code, stdout, _ = cli(["style-mix", sg, "--rows", "1", "--cols", "1", "--out",
                           tmp_path / "x.png"])
    assert "coarse (4 px): style inputs 0, 1" in stdout


@needs_stylegan
@pytest.mark.parametrize("key,argv,fragments", [
    ("stylegan", ["generate", "--truncation", "nan"], ["--truncation must be a finite"]),
    ("stylegan", ["generate", "--truncation", "inf"], ["--truncation must be a finite"]),
    ("vae", ["generate", "--truncation", "0.5"], ["needs a model with a style space",
                                                  "Models that can:", "stylegan"]),
    ("vae", ["style-mix"], ["style-mix needs a model with a style space", "stylegan"]),
    ("stylegan", ["style-mix", "--rows", "0"], ["--rows and --cols must be in [1, 16]"]),
    ("stylegan", ["style-mix", "--out", "x.jpg"], ["must end in .png"]),
    ("vae", ["interpolate", "--space", "w"], ["--space w needs a model with a style space",
                                              "use --space z"]),
])
def test_cli_bad_input_is_one_error_line(cli, runs, key, argv, fragments):
    code, _, err = cli([argv[0], runs[key], *argv[1:]])
    assert code == 2
    assert_one_error_line(err, *fragments)
