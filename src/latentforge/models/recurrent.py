"""Recurrent autoencoder of book ch. 17 ("Recurrent Autoencoders"), ``recurrent_ae``.

Book (28x28 Fashion-MNIST, each image a sequence of 28 rows of 28 pixels):
  encoder  LSTM(100, return_sequences=True) -> LSTM(30)           codings: last h, (B, 30)
  decoder  RepeatVector(28) -> LSTM(100, return_sequences=True)
           -> TimeDistributed(Dense(28, activation="sigmoid"))

Generalised to any image (C, H, W): H timesteps of C * W features (the rows, channels side
by side). Output logits; the Autoencoder base applies the sigmoid.

Keras LSTM initialisation, replicated by `keras_lstm_init_`: kernel Glorot-uniform over
the whole (input, 4 * units) matrix, recurrent kernel orthogonal over the whole (units,
4 * units) matrix, bias zero except the forget gate's 1 (unit_forget_bias=True). Keras and
torch both order the gates i, f, g (Keras "c"), o, and torch's (4u, n) weights are Keras's
kernels transposed, so `xavier_uniform_` / `orthogonal_` on them give the same
distributions. torch adds two bias vectors (b_ih + b_hh) where Keras has one: b_ih holds
Keras's bias (forget gate 1) and b_hh is fixed at zero and not trained, so plain SGD moves
the effective bias exactly as Keras does (training both would double its learning rate).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from latentforge.errors import ConfigError
from latentforge.models.base import Autoencoder
from latentforge.models.checks import check_choice, check_corruption, check_sizes
from latentforge.models.layers import corruption
from latentforge.registry import register


@dataclass
class RecurrentAEConfig:
    """The book's recurrent autoencoder (defaults: book ch. 17 notebook).

    hidden: encoder LSTM sizes, the last is the coding size (book: 100, 30); the decoder
        runs LSTMs of the other sizes in reverse (book: 100) after repeating the codings
        once per timestep. At least two sizes (the decoder needs an LSTM).
    output: "sigmoid" (logits + binary cross-entropy, pixels in [0, 1]; book's
        Dense(28, sigmoid)) or "linear" (MSE).
    corruption / corruption_rate: "gaussian" (stddev) or "dropout" (rate) noise on the input
        in training only, as `DenseAEConfig`.
    """

    hidden: tuple[int, ...] = (100, 30)
    output: str = "sigmoid"
    corruption: str = "none"
    corruption_rate: float = 0.0

    @property
    def latent_dim(self) -> int:
        """The coding size, hidden[-1] (read-only: set model.hidden)."""
        return self.hidden[-1]

    def validate(self) -> None:
        """ConfigError for values no recurrent autoencoder can use (the data's shape is
        checked when the model is built)."""
        check_sizes("hidden", self.hidden, what="LSTM sizes")
        if len(self.hidden) < 2:
            # The decoder runs LSTMs of the sizes before the last one: with a single size it
            # would have none and emit the same row at every timestep.
            raise ConfigError(f"model.hidden needs at least two LSTM sizes (encoder sizes, "
                              f"the last is the coding size; the decoder mirrors the others), "
                              f"got {list(self.hidden)}. Use e.g. [100, {self.hidden[0]}].")
        check_choice("output", self.output, ("sigmoid", "linear"))
        check_corruption(self.corruption, self.corruption_rate)


def keras_lstm_init_(lstm: nn.LSTM) -> nn.LSTM:
    """Keras LSTM defaults on a torch LSTM (see the module docstring); returns `lstm`."""
    units = lstm.hidden_size
    for name, param in lstm.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(param)
        elif name.startswith("weight_hh"):
            nn.init.orthogonal_(param)
        elif name.startswith("bias_ih"):
            nn.init.zeros_(param)
            param.data[units:2 * units] = 1.0  # unit_forget_bias=True
        elif name.startswith("bias_hh"):
            nn.init.zeros_(param)
            param.requires_grad_(False)  # Keras has one bias: b_ih carries it
    return lstm


def _lstm(n_in: int, n_out: int) -> nn.LSTM:
    return keras_lstm_init_(nn.LSTM(n_in, n_out, batch_first=True))


def to_sequence(x: Tensor) -> Tensor:
    """Images (B, C, H, W) -> sequences (B, H, C * W): one timestep per row."""
    b, c, h, w = x.shape
    return x.reshape(b, h, w) if c == 1 else x.permute(0, 2, 1, 3).reshape(b, h, c * w)


class SequenceEncoder(nn.Module):
    """[corruption] -> LSTMs over the rows; x: (B, C, H, W) -> last hidden state (B, hidden[-1])."""

    def __init__(self, cfg: RecurrentAEConfig, features: int):
        super().__init__()
        self.noise = corruption(cfg.corruption, cfg.corruption_rate)
        sizes = (features, *cfg.hidden)
        self.lstms = nn.ModuleList(_lstm(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: Tensor) -> Tensor:
        h = to_sequence(self.noise(x))
        for lstm in self.lstms:
            h, _ = lstm(h)
        return h[:, -1]


class SequenceDecoder(nn.Module):
    """Codings (B, D) -> repeat per timestep -> LSTMs -> per-step Dense -> logits (B, C, H, W)."""

    def __init__(self, cfg: RecurrentAEConfig, sample_shape: tuple[int, int, int]):
        super().__init__()
        self.sample_shape = sample_shape
        c, self.steps, w = sample_shape
        sizes = cfg.hidden[::-1]
        self.lstms = nn.ModuleList(_lstm(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dense = nn.Linear(sizes[-1], c * w)  # TimeDistributed(Dense(C * W))
        nn.init.xavier_uniform_(self.dense.weight)
        nn.init.zeros_(self.dense.bias)

    def forward(self, z: Tensor) -> Tensor:
        h = z.unsqueeze(1).expand(-1, self.steps, -1)  # RepeatVector(H)
        for lstm in self.lstms:
            h, _ = lstm(h)
        out = self.dense(h)  # (B, H, C * W)
        c, hh, w = self.sample_shape
        if c == 1:
            return out.reshape(-1, 1, hh, w)
        return out.reshape(-1, hh, c, w).permute(0, 2, 1, 3)


class RecurrentAutoencoder(Autoencoder):
    """LSTM sequence-to-vector encoder + vector-to-sequence decoder over image rows.

    x: (B, C, H, W) in [0, 1]; codings (B, hidden[-1]) in (-1, 1) (an LSTM's tanh output).
    """

    def __init__(self, cfg: RecurrentAEConfig, sample_shape):
        super().__init__(cfg, sample_shape)
        cfg.validate()
        _check_shape(self.sample_shape)
        c, _, w = self.sample_shape
        self.encoder = SequenceEncoder(cfg, c * w)
        self.decoder = SequenceDecoder(cfg, self.sample_shape)

    def init_weights(self) -> None:
        """Nothing more: every LSTM and the dense layer are Keras-initialised as they are
        built (`keras_lstm_init_`), in the random-draw order the stored numbers come from."""

    @property
    def coding_dim(self) -> int:
        return self.cfg.latent_dim


def _check_shape(sample_shape: tuple[int, ...]) -> None:
    if len(sample_shape) != 3:
        raise ConfigError(f"recurrent_ae needs images of shape (C, H, W) (rows are the "
                          f"timesteps); the data has samples of shape {sample_shape}. "
                          "Use a dense model (stacked_ae) for tables, or, if the rows are "
                          "flattened images, set data.image_shape=[C,H,W] (e.g. [1,28,28]).")


RECURRENT_RECIPES = {
    # Book: SGD(lr=0.1), binary_crossentropy, fit(epochs=10), batch 32, Keras LSTM init.
    "book": {"train": {"optimizer": "sgd", "lr": 0.1, "epochs": 10, "batch_size": 32}},
    # Book quality in less wall time (measured: see README / the report).
    "fast": {"train": {"optimizer": "adam", "lr": 2e-3, "epochs": 4, "batch_size": 64}},
}

register("recurrent_ae", RecurrentAEConfig,
         "Recurrent autoencoder: LSTM 100-30 over image rows, repeat, LSTM 100, dense per row",
         RECURRENT_RECIPES, {"model": {"hidden": [12, 6]}})(RecurrentAutoencoder)
