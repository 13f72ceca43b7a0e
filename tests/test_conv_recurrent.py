"""The convolutional (`conv_ae`) and recurrent (`recurrent_ae`) autoencoders of book ch. 17.

Checks the claims of their module docstrings against independent references: TensorFlow's
transposed-convolution alignment (built here as the adjoint of an explicitly padded
stride-2 convolution), the Keras book models' parameter counts, Keras initialisers
(Glorot fans, LSTM forget bias / orthogonal recurrent kernel), the row-sequence layout,
training-only corruption, and a tiny train + reload on digits. The registry-wide basics
(train, resume, checkpoints) live in test_conformance.py.
"""
from __future__ import annotations

import math

import numpy as np

import pytest
import torch
import torch.nn.functional as F

import latentforge as lf
from conftest import assert_one_error_line, make_tiny_cfg
from latentforge.api import build_model
from latentforge.config import build_config
from latentforge.data import load_data
from latentforge.errors import ConfigError
from latentforge.models.conv_blocks import KerasConvTranspose2d
from latentforge.models.recurrent import to_sequence
from latentforge.training.engine import evaluate_model
from latentforge.training.step import Stepper




def conv(*overrides, shape=(1, 28, 28), recipe="book"):
    return build_model(build_config("conv_ae", recipe, overrides=list(overrides)), shape)


def rnn(*overrides, shape=(1, 28, 28), recipe="book"):
    return build_model(build_config("recurrent_ae", recipe, overrides=list(overrides)), shape)


def n_params(model, trainable_only=False):
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# ---------------------------------------------------------------- transposed-conv alignment

def tf_same_pads(in_size: int, out_size: int, k: int, s: int = 2) -> tuple[int, int]:
    """TensorFlow "SAME" padding of a forward convolution in_size -> out_size."""
    total = max((out_size - 1) * s + k - in_size, 0)
    return total // 2, total - total // 2


def tf_transposed_reference(layer: KerasConvTranspose2d, x: torch.Tensor) -> torch.Tensor:
    """TF's Conv2DTranspose: the adjoint (vector-Jacobian product) of the stride-2 Conv2D
    that maps `layer.size` back to x's size, padded the TF "SAME" way, plus the bias.

    ConvTranspose2d's weight (in_T, out_T, k, k) is, unchanged, the weight of the forward
    conv2d it transposes: that conv maps out_T channels to in_T channels.
    """
    weight, bias = layer.conv.weight.detach(), layer.conv.bias.detach()
    k = weight.shape[-1]
    (big_h, big_w), (n, m) = layer.size, x.shape[-2:]
    top, bottom = tf_same_pads(big_h, n, k)
    left, right = tf_same_pads(big_w, m, k)
    u = torch.zeros(x.shape[0], weight.shape[1], big_h, big_w, dtype=x.dtype,
                    requires_grad=True)
    forward = F.conv2d(F.pad(u, (left, right, top, bottom)), weight, stride=2)
    assert forward.shape[-2:] == (n, m)  # the forward conv really goes size -> (n, m)
    (adjoint,) = torch.autograd.grad((forward * x).sum(), u)
    return adjoint + bias[:, None, None]


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("n,m", [(3, 3), (4, 4), (7, 7), (3, 4)])
@pytest.mark.parametrize("extra", [0, 1], ids=["same_2n", "valid_2n+1"])
def test_keras_conv_transpose_is_adjoint_of_tf_same_conv(k, n, m, extra):
    torch.manual_seed(0)
    size = (2 * n + extra, 2 * m + extra)
    layer = KerasConvTranspose2d(3, 2, k, size).double()
    with torch.no_grad():
        layer.conv.bias.normal_()
    x = torch.randn(2, 3, n, m, dtype=torch.float64)
    got = layer(x)
    assert got.shape == (2, 2, *size)
    torch.testing.assert_close(got, tf_transposed_reference(layer, x), rtol=1e-10, atol=1e-10)


def test_keras_same_alignment_by_hand_and_torch_padding_is_shifted():
    """k=3, stride 2, 2 -> 4: TF pads the forward conv 0 before / 1 after, so an impulse at
    input (0, 0) with a ones kernel lands on output rows/cols 0..2 (torch's padding=1,
    output_padding=1 puts it at 0..1: a one-pixel shift)."""
    layer = KerasConvTranspose2d(1, 1, 3, (4, 4))
    with torch.no_grad():
        layer.conv.weight.fill_(1.0)
        layer.conv.bias.zero_()
    x = torch.zeros(1, 1, 2, 2)
    x[..., 0, 0] = 1
    expected = torch.zeros(1, 1, 4, 4)
    expected[..., :3, :3] = 1
    assert torch.equal(layer(x), expected)
    torch_style = F.conv_transpose2d(x, layer.conv.weight, stride=2, padding=1,
                                     output_padding=1)
    assert torch_style.shape == expected.shape and not torch.equal(torch_style, expected)
    # k=3 "valid" (2n + 1) is the uncropped map: Keras Conv2DTranspose(padding="valid").
    valid = KerasConvTranspose2d(1, 1, 3, (5, 5))
    assert torch.equal(valid(x), valid.conv(x))


# ---------------------------------------------------------------- conv_ae shapes, errors

# Keras book model: Conv2D k*k*in*out + out; Conv2DTranspose k*k*out*in + out.
#   Conv2D(16) 9*1*16+16 = 160, Conv2D(32) 9*16*32+32 = 4,640, Conv2D(64) 9*32*64+64 = 18,496
#   Conv2DTranspose(32) 9*64*32+32 = 18,464, (16) 9*32*16+16 = 4,624, (1) 9*16*1+1 = 145
BOOK_CONV_PARAMS = 160 + 4_640 + 18_496 + 18_464 + 4_624 + 145


def test_book_conv_model_shapes_and_param_count():
    assert BOOK_CONV_PARAMS == 46_529
    m = conv().eval()
    x = torch.rand(3, 1, 28, 28)
    codings = m.encode(x)
    assert codings.shape == (3, 576) == (3, m.coding_dim)  # 64 x 3 x 3
    assert m.reconstruct(x).shape == (3, 1, 28, 28)
    assert m.decode(codings).shape == (3, 1, 28, 28)
    assert n_params(m) == BOOK_CONV_PARAMS
    sizes = [l.size for l in m.decoder if isinstance(l, KerasConvTranspose2d)]
    assert sizes == [(7, 7), (14, 14), (28, 28)]  # 3 -> 7 ("valid") -> 14 -> 28 ("same")


@pytest.mark.parametrize("shape,extra,coding_dim", [
    ((3, 32, 32), (), 64 * 4 * 4),
    ((1, 20, 20), (), 64 * 2 * 2),
    ((1, 9, 9), ("model.filters=[4,4,4]",), 4),
    ((1, 8, 8), ("model.filters=[4,4,4]",), 4),
    ((2, 13, 22), ("model.filters=[3,5]", "model.kernel=5"), 5 * 3 * 5),
    ((1, 11, 6), ("model.filters=[4]", "model.kernel=7"), 4 * 5 * 3),
])
def test_conv_reconstructs_exact_input_shape(shape, extra, coding_dim):
    m = conv(*extra, shape=shape).eval()
    x = torch.rand(2, *shape)
    codings = m.encode(x)
    assert codings.shape == (2, coding_dim) == (2, m.coding_dim)
    assert m(x).shape == x.shape
    recon = m.reconstruct(x)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1


def test_conv_too_small_images_raise_actionable_error():
    with pytest.raises(ConfigError) as info:
        conv(shape=(1, 7, 9))
    msg = str(info.value)
    assert "at least 8" in msg and "7x9" in msg and "fewer filters" in msg
    conv("model.filters=[4,4]", shape=(1, 7, 9))  # two stages need only 4


@pytest.mark.parametrize("shape", [(64,), (3, 64)])
def test_conv_rejects_tables(shape):
    with pytest.raises(ConfigError, match=r"\(C, H, W\).*stacked_ae"):
        conv(shape=shape)


@pytest.mark.parametrize("bad", ["model.kernel=4", "model.kernel=1", "model.filters=[]",
                                 "model.filters=[4,0]", 'model.output="tanh"',
                                 'model.activation="nope"', 'model.corruption="salt"'])
def test_conv_bad_options_raise_config_error(bad):
    with pytest.raises(ConfigError):
        conv(bad, shape=(1, 16, 16))


# ---------------------------------------------------------------- conv_ae init, memory format

def keras_glorot_limit(layer) -> float:
    """sqrt(6 / (fan_in + fan_out)) with Keras's fans of the Keras kernel shape."""
    k = layer.kernel_size[0] * layer.kernel_size[1]
    if isinstance(layer, torch.nn.ConvTranspose2d):
        # Keras Conv2DTranspose kernel (k, k, out, in): fan_in = k*k*out, fan_out = k*k*in.
        fan_in, fan_out = k * layer.out_channels, k * layer.in_channels
    else:
        # Keras Conv2D kernel (k, k, in, out): fan_in = k*k*in, fan_out = k*k*out.
        fan_in, fan_out = k * layer.in_channels, k * layer.out_channels
    return math.sqrt(6 / (fan_in + fan_out))


def test_conv_glorot_uniform_with_keras_fans_and_zero_biases():
    m = conv()
    layers = [l for l in m.modules() if isinstance(l, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert [type(l).__name__ for l in layers] == ["Conv2d"] * 3 + ["ConvTranspose2d"] * 3
    for layer in layers:
        w, limit = layer.weight.detach(), keras_glorot_limit(layer)
        assert w.abs().max() <= limit
        assert w.abs().max() >= 0.9 * limit  # >= 144 uniform draws: fills [-limit, limit]
        if w.numel() > 4000:
            assert w.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.05)
        assert torch.count_nonzero(layer.bias) == 0


def test_channels_last_is_the_same_math():
    fast = conv("model.channels_last=true", shape=(1, 12, 12))
    plain = conv("model.channels_last=false", shape=(1, 12, 12))
    assert fast.encoder[1].weight.is_contiguous(memory_format=torch.channels_last)
    assert plain.encoder[1].weight.is_contiguous()
    for (name, a), b in zip(fast.state_dict().items(), plain.state_dict().values()):
        assert torch.equal(a, b), name
    x = torch.rand(5, 1, 12, 12)
    la, lb = fast.losses(x), plain.losses(x)
    torch.testing.assert_close(la["loss"], lb["loss"])
    la["loss"].backward()
    lb["loss"].backward()
    for (name, a), b in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)
    fast.eval(), plain.eval()
    torch.testing.assert_close(fast.encode(x), plain.encode(x))
    with torch.inference_mode():
        ea, eb = fast.eval_step(x, None), plain.eval_step(x, None)
    assert ea.keys() == eb.keys()
    for key in ea:
        torch.testing.assert_close(ea[key], eb[key])


# ---------------------------------------------------------------- recurrent_ae

def lstm_params(n_in: int, units: int) -> int:
    """Keras LSTM: kernel n*4u + recurrent kernel u*4u + one bias 4u."""
    return 4 * (units * (n_in + units) + units)


def test_book_recurrent_param_count_and_codings():
    keras = lstm_params(28, 100) + lstm_params(100, 30) + lstm_params(30, 100) + 100 * 28 + 28
    assert keras == 122_548
    m = rnn()
    assert n_params(m, trainable_only=True) == keras
    frozen = [n for n, p in m.named_parameters() if not p.requires_grad]
    assert frozen and all(".bias_hh_l0" in n for n in frozen)
    assert n_params(m) == keras + 4 * (100 + 30 + 100)  # plus torch's frozen second bias
    m.eval()
    x = torch.rand(4, 1, 28, 28)
    codings = m.encode(x)
    assert codings.shape == (4, 30) == (4, m.coding_dim)
    assert codings.abs().max() < 1
    assert m.reconstruct(x).shape == x.shape


def test_recurrent_keras_lstm_init():
    m = rnn("model.hidden=[20,8]", shape=(1, 6, 10))
    lstms = [l for l in m.modules() if isinstance(l, torch.nn.LSTM)]
    assert [(l.input_size, l.hidden_size) for l in lstms] == [(10, 20), (20, 8), (8, 20)]
    for lstm in lstms:
        u, n = lstm.hidden_size, lstm.input_size
        w_ih, w_hh = lstm.weight_ih_l0.detach(), lstm.weight_hh_l0.detach()
        b_ih, b_hh = lstm.bias_ih_l0.detach(), lstm.bias_hh_l0
        assert w_ih.shape == (4 * u, n) and w_hh.shape == (4 * u, u)
        # Keras recurrent kernel (u, 4u) orthogonal: orthonormal rows, i.e. torch's
        # (4u, u) transpose has orthonormal columns.
        torch.testing.assert_close(w_hh.T @ w_hh, torch.eye(u), atol=1e-5, rtol=0)
        # Keras kernel (n, 4u) Glorot-uniform over the whole matrix.
        limit = math.sqrt(6 / (n + 4 * u))
        assert limit * 0.9 <= w_ih.abs().max() <= limit
        # gates i, f, g, o: only the forget gate's bias is 1; torch's b_hh is 0 and frozen
        expected = torch.zeros(4 * u)
        expected[u:2 * u] = 1
        assert torch.equal(b_ih, expected)
        assert torch.count_nonzero(b_hh) == 0 and not b_hh.requires_grad
        assert lstm.bias_ih_l0.requires_grad
    dense = m.decoder.dense
    assert dense.weight.abs().max() <= math.sqrt(6 / (20 + 10))
    assert torch.count_nonzero(dense.bias) == 0


def test_recurrent_frozen_bias_stays_zero_after_training_step():
    m = rnn("model.hidden=[6,3]", shape=(1, 5, 7))
    opts = m.configure_optimizers(build_config("recurrent_ae").train)
    m.train()
    m.train_step(torch.rand(4, 1, 5, 7), None, Stepper(opts))
    for lstm in (l for l in m.modules() if isinstance(l, torch.nn.LSTM)):
        assert torch.count_nonzero(lstm.bias_hh_l0) == 0
        assert not torch.equal(lstm.bias_ih_l0[lstm.hidden_size:2 * lstm.hidden_size],
                               torch.ones(lstm.hidden_size))


@pytest.mark.parametrize("shape", [(1, 5, 7), (1, 40, 12), (3, 6, 6), (2, 1, 4)])
def test_recurrent_any_number_of_rows(shape):
    m = rnn("model.hidden=[10,4]", shape=shape).eval()
    lstm = m.encoder.lstms[0]
    assert lstm.input_size == shape[0] * shape[2]
    x = torch.rand(3, *shape)
    codings = m.encode(x)
    assert codings.shape == (3, 4) and codings.abs().max() < 1
    assert m(x).shape == x.shape and m.reconstruct(x).shape == x.shape
    assert m.decode(codings).shape == x.shape


@pytest.mark.parametrize("shape", [(1, 3, 4), (3, 2, 5)])
def test_sequence_layout_rows_channels_side_by_side_and_decoder_inverts_it(shape):
    c, h, w = shape
    x = torch.arange(2 * c * h * w, dtype=torch.float32).reshape(2, c, h, w)
    seq = to_sequence(x)
    assert seq.shape == (2, h, c * w)
    for b in range(2):
        for row in range(h):
            # timestep `row` = that row of channel 0, then of channel 1, ...
            assert torch.equal(seq[b, row], torch.cat([x[b, ch, row] for ch in range(c)]))
    # The decoder's per-step Dense emits (B, H, C * W); make it emit exactly `seq` (a
    # forward hook replaces its output) and the decoder must give back the image layout.
    m = rnn("model.hidden=[6,3]", shape=shape)
    m.decoder.dense.register_forward_hook(lambda mod, inp, out: seq.clone())
    assert torch.equal(m.decoder(torch.zeros(2, 3)), x)


def test_recurrent_rejects_tables_and_bad_options():
    with pytest.raises(ConfigError, match=r"\(C, H, W\).*stacked_ae"):
        rnn(shape=(64,))
    with pytest.raises(ConfigError, match=r"at least two LSTM sizes.*\[8\]"):
        rnn("model.hidden=[8]", shape=(1, 8, 8))  # no decoder LSTM: every row the same
    for bad in ("model.hidden=[]", "model.hidden=[8,0]", 'model.output="tanh"',
                'model.corruption="salt"'):
        with pytest.raises(ConfigError):
            rnn(bad, shape=(1, 8, 8))


# ---------------------------------------------------------------- denoising variants

DENOISING = [
    (conv, ("model.filters=[4,4]", 'model.corruption="gaussian"', "model.corruption_rate=0.3")),
    (conv, ("model.filters=[4,4]", 'model.corruption="dropout"', "model.corruption_rate=0.5")),
    (rnn, ("model.hidden=[8,4]", 'model.corruption="gaussian"', "model.corruption_rate=0.3")),
    (rnn, ("model.hidden=[8,4]", 'model.corruption="dropout"', "model.corruption_rate=0.5")),
]


@pytest.mark.parametrize("factory,extra", DENOISING,
                         ids=["conv-gaussian", "conv-dropout", "rnn-gaussian", "rnn-dropout"])
def test_corruption_only_in_training(factory, extra):
    m = factory(*extra, shape=(1, 8, 8))
    x = torch.rand(6, 1, 8, 8)
    m.train()
    assert not torch.equal(m.losses(x)["loss"], m.losses(x)["loss"])
    assert not torch.equal(m.encode(x), m.encode(x))
    m.eval()
    clean = factory(*extra[:1], shape=(1, 8, 8)).eval()  # same seed, same weights
    assert torch.equal(m.encode(x), m.encode(x))
    assert torch.equal(m.losses(x)["loss"], m.losses(x)["loss"])
    torch.testing.assert_close(m.encode(x), clean.encode(x))  # eval: no corruption at all
    with torch.inference_mode():
        assert torch.equal(m.eval_step(x, None)["loss"], m.eval_step(x, None)["loss"])


# ---------------------------------------------------------------- tiny end-to-end

# The book recipes (SGD lr 1.0 / 0.1, batch 16 here), 96 digits, 2 epochs.
TRAIN_CASES = [("conv_ae", ("model.filters=[4,8,8]",)),
               ("recurrent_ae", ("model.hidden=[16,6]",))]


@pytest.mark.parametrize("name,extra", TRAIN_CASES, ids=[c[0] for c in TRAIN_CASES])
def test_tiny_train_learns_and_reloads(name, extra, tmp_path):
    cfg = make_tiny_cfg(name, *extra, epochs=2)
    splits = load_data(cfg.data)
    assert splits.train.sample_shape == (1, 8, 8)
    untrained = evaluate_model(build_model(cfg, splits.train.sample_shape), splits.valid)
    run = lf.train(cfg, run_dir=tmp_path / name)
    losses = [r["loss"] for r in run.history]
    val = [r["val_loss"] for r in run.history]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses + val)
    assert losses[1] < losses[0]
    assert val[1] < untrained["loss"]
    again = lf.load_run(run.path)
    assert type(again.model) is type(run.model)
    x = splits.valid.batch(torch.arange(10))
    codings = again.encode(x)
    assert codings.shape == (10, run.model.coding_dim)
    assert torch.equal(codings, run.encode(x))
    assert torch.equal(again.reconstruct(x), run.reconstruct(x))


@pytest.mark.parametrize("model", ["conv_ae", "recurrent_ae"])
def test_flat_rows_refused_with_the_image_shape_hint(cli, tmp_path, model):
    """A flat (N, 64) array trains dense models; conv/recurrent models say how to read the
    rows as images (issue 9, item 21)."""
    path = tmp_path / "flat.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (60, 64), dtype=np.uint8))
    code, _, err = cli(["train", model, "--data", path, "--epochs", "1", "--runs-dir",
                        tmp_path / "runs", "--no-progress"])
    assert code == 2
    assert_one_error_line(err, "data.image_shape=[C,H,W]")
