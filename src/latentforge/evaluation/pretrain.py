"""Unsupervised pretraining with few labels (book ch. 17, "Unsupervised Pretraining Using
Stacked Autoencoders"; exercise 9 of the chapter).

Protocol of `pretrain_classifier` (one call = one table):

- labelled set: the first ``n_labels`` items of a seeded permutation of the run's train
  split (seed = the repeat's seed); evaluation: the whole validation split (Fashion-MNIST:
  5,000 images), accuracy after the last epoch (nothing is selected on it).
- classifier = encoder + head. The head is one dense softmax layer on the codings
  (``Linear(D, K)`` trained with cross-entropy on logits; Glorot-uniform kernel, zero bias,
  as Keras ``Dense(K, activation="softmax")``); ``head_hidden > 0`` puts a SELU layer of
  that size before it. The same head and settings serve the three variants:

  * ``scratch``: a freshly initialised copy of the encoder's architecture
    (``build_model(run.config, shape).encoder`` with another seed), all trained for
    ``epochs`` epochs at ``lr``;
  * ``frozen``: a deep copy of the run's trained ``model.encoder`` (its weights are checked
    to be transferred: the book's ``clone_model`` re-initialised them), frozen and in eval
    mode; only the head trains, ``epochs`` epochs at ``lr``;
  * ``finetuned``: the ``frozen`` classifier after ``frozen_epochs`` epochs, then the whole
    network trains for the remaining ``epochs - frozen_epochs`` epochs with a fresh
    optimizer at ``finetune_lr`` (the book: unfreeze, recompile, fit again).

Each variant trains through the one training engine, in memory (`ClassifierTraining`, the
classifier under the engine's model contract; shuffling from the repeat's seeded
generator). Any registered autoencoder works whose ``encoder`` maps ``(B, *sample_shape)`` to
``(B, D)``. Measured numbers: README (``latentforge pretrain-classifier``).
"""
from __future__ import annotations

import copy
import logging
import statistics
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentforge.errors import ConfigError, DataError, RunError
from latentforge.models.base import Model
from latentforge.models.base import evaluating

log = logging.getLogger(__name__)

VARIANTS = ("scratch", "frozen", "finetuned")
LABELS = {"scratch": "from scratch (same architecture, random init)",
          "frozen": "pretrained encoder, frozen (head only)",
          "finetuned": "pretrained, frozen then fine-tuned"}


@dataclass
class PretrainSettings:
    """How each classifier trains (the same settings for all three variants).

    epochs: total epochs of every variant (500 labels at batch 32 = 16 steps an epoch).
    frozen_epochs: epochs the ``finetuned`` variant keeps the encoder frozen first.
    batch_size: Keras's default 32, as the book's notebook.
    optimizer: Adam at ``lr``; ``finetune_lr`` for the end-to-end phase.
    weight_decay: L2 penalty (Adam's weight_decay) on every trained parameter.
    head_hidden: 0 = a single dense softmax layer on the codings; N > 0 = Dense(N, SELU)
        first (the book's exercise solution uses Dense(20, selu) + Dense(10, softmax)).
    head_norm: BatchNorm1d on the codings before the head (codings of different models
        have very different scales; the same head then suits them all).
    Defaults: chosen on Fashion-MNIST's validation split with 500 labels over seeds 0-2
        (README table; ``--split test`` for untouched numbers): a fine-tuning lr of 1e-3
        beat 1e-4 by 10 points for stacked_ae and by 1 point for conv_ae.
    """

    epochs: int = 30
    frozen_epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    finetune_lr: float = 1e-3
    weight_decay: float = 0.0
    head_hidden: int = 0
    head_norm: bool = True

    def validate(self) -> None:
        """Raise ConfigError for values no run can use."""
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"epochs and batch size must be >= 1, got {self.epochs} and "
                              f"{self.batch_size}")
        if not 0 <= self.frozen_epochs <= self.epochs:
            raise ConfigError(f"frozen epochs must be in [0, epochs={self.epochs}], got "
                              f"{self.frozen_epochs}")
        if self.lr <= 0 or self.finetune_lr <= 0 or self.weight_decay < 0:
            raise ConfigError("learning rates must be > 0 and weight decay >= 0")
        if self.head_hidden < 0:
            raise ConfigError(f"head hidden size must be >= 0, got {self.head_hidden}")


@dataclass
class PretrainResult:
    """Validation accuracy of each variant, one value per seed (same order as `seeds`)."""

    model_name: str
    n_labels: int
    eval_split: str
    n_eval: int
    coding_dim: int
    seeds: list[int]
    settings: PretrainSettings
    accuracies: dict[str, list[float]] = field(default_factory=dict)

    def mean(self, variant: str) -> float:
        return statistics.fmean(self.accuracies[variant])

    def std(self, variant: str) -> float:
        """Sample standard deviation over seeds (0 for one seed)."""
        values = self.accuracies[variant]
        return statistics.stdev(values) if len(values) > 1 else 0.0

    @property
    def gain(self) -> float:
        """Best pretrained variant's mean accuracy minus from-scratch's (in [0, 1] units)."""
        return max(self.mean("frozen"), self.mean("finetuned")) - self.mean("scratch")

    def table(self) -> str:
        """Plain-text comparison table (what the CLI prints)."""
        head = (f"{self.model_name}: {self.n_labels} labels, {self.coding_dim}-D codings, "
                f"{self.eval_split} accuracy on {self.n_eval} items, seeds {self.seeds}")
        lines = [head, f"{'variant':50s} {'mean':>7s} {'std':>7s}  per seed"]
        for v in VARIANTS:
            per = " ".join(f"{a:.4f}" for a in self.accuracies[v])
            lines.append(f"{LABELS[v]:50s} {self.mean(v):7.4f} {self.std(v):7.4f}  {per}")
        lines.append(f"gain of the best pretrained variant over scratch: "
                     f"{100 * self.gain:+.1f} points")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["summary"] = {v: {"mean": self.mean(v), "std": self.std(v)} for v in VARIANTS}
        out["gain"] = self.gain
        return out


# ----------------------------------------------------------------------------- pieces

def labelled_subset(data, n_labels: int, seed: int) -> tuple[Tensor, Tensor]:
    """The first `n_labels` items of a seeded permutation of `data` (a TensorData):
    x float (n, *sample_shape) in the data range, y int64 (n,)."""
    if data.y is None:
        raise DataError("Pretraining a classifier needs class labels, and the run's data "
                        "source has none; train the autoencoder on a labelled source.")
    if not 1 <= n_labels <= len(data):
        raise ConfigError(f"--labels must be in [1, {len(data)}] (the train split's size), "
                          f"got {n_labels}")
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    idx = perm[:n_labels]
    return data.batch(idx), data.y.index_select(0, idx)


def transfer_encoder(model: nn.Module) -> nn.Module:
    """A deep copy of ``model.encoder`` whose weights equal the trained ones (checked)."""
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, nn.Module):
        raise RunError(f"{type(model).__name__} has no 'encoder' network to pretrain with.")
    clone = copy.deepcopy(encoder)
    source, copied = encoder.state_dict(), clone.state_dict()
    if source.keys() != copied.keys() or not all(torch.equal(source[k], copied[k])
                                                 for k in source):
        raise RuntimeError("The copied encoder's weights differ from the trained ones.")
    return clone


def fresh_encoder(cfg, sample_shape, seed: int) -> nn.Module:
    """The encoder architecture of `cfg`, freshly initialised with `seed` (global RNG kept)."""
    from latentforge.api import build_model
    from latentforge.config import replace_train

    with torch.random.fork_rng(devices=[]):
        return build_model(replace_train(cfg, seed=seed), sample_shape).encoder


def coding_dim(encoder: nn.Module, sample_shape) -> int:
    """D of an encoder mapping (B, *sample_shape) -> (B, D); anything else raises RunError."""
    with evaluating(encoder), torch.no_grad():
        device = next(encoder.parameters()).device
        out = encoder(torch.zeros(2, *sample_shape, device=device))
    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != 2:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise RunError(f"The model's encoder returns {got} for a batch of 2; pretraining "
                       "needs an encoder mapping (B, *sample_shape) to (B, D).")
    return int(out.shape[1])


class Classifier(nn.Module):
    """encoder (B, *sample_shape) -> (B, D), head -> logits (B, K)."""

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head
        self.frozen = False

    def freeze(self, frozen: bool) -> None:
        self.frozen = frozen
        for p in self.encoder.parameters():
            p.requires_grad_(not frozen)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:  # a frozen encoder runs as in inference (no noise, BN statistics)
            self.encoder.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x))


def make_head(dim: int, n_classes: int, hidden: int, seed: int, norm: bool = True) -> nn.Module:
    """[BatchNorm1d(D)] -> [Dense(hidden, SELU)] -> Dense(K) logits; Glorot-uniform kernels,
    zero biases."""
    from latentforge.models.init import keras_init_

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = [nn.BatchNorm1d(dim)] if norm else []
        if hidden:
            layers += [nn.Linear(dim, hidden), nn.SELU()]
        layers.append(nn.Linear(hidden or dim, n_classes))
        return keras_init_(nn.Sequential(*layers))


class ClassifierTraining(Model):
    """A `Classifier` under the engine's contract: Adam at train.lr with `weight_decay` on
    its trainable parameters, cross-entropy on logits."""

    def __init__(self, clf: Classifier, weight_decay: float):
        super().__init__(None, ())
        self.clf, self.weight_decay = clf, weight_decay

    def init_weights(self) -> None:
        """Nothing: the classifier arrives initialised (or pretrained)."""

    def configure_optimizers(self, train_cfg) -> dict[str, torch.optim.Optimizer]:
        params = [p for p in self.clf.parameters() if p.requires_grad]
        return {"main": torch.optim.Adam(params, lr=train_cfg.lr,
                                         weight_decay=self.weight_decay)}

    def train_step(self, x, y, step):
        loss = F.cross_entropy(self.clf(x), y)
        step.step("main", loss)
        return {"loss": loss.detach()}

    def eval_step(self, x, y):
        logits = self.clf(x)
        return {"loss": F.cross_entropy(logits, y),
                "accuracy": (logits.argmax(1) == y).float().mean()}


def fit(clf: Classifier, x: Tensor, y: Tensor, epochs: int, lr: float, settings: PretrainSettings,
        generator: torch.Generator) -> None:
    """`epochs` epochs of Adam on the trainable parameters, shuffled batches, CE loss:
    the training engine, in memory, shuffling with `generator` (continued by the caller)."""
    from latentforge.config import RunConfig, TrainConfig
    from latentforge.data.dataset import Splits, TensorData
    from latentforge.training.engine import Trainer

    device = next(clf.parameters()).device
    train_cfg = TrainConfig(epochs=epochs, batch_size=settings.batch_size, optimizer="adam",
                            lr=lr, device=str(device), progress=False)
    data = TensorData(x, y)
    splits = Splits("labelled subset", data, data.subset(slice(0, 0)), None)
    cfg = RunConfig("classifier", "pretrain", None, train=train_cfg)
    Trainer(ClassifierTraining(clf, settings.weight_decay), splits, cfg,
            generator=generator).fit()


@torch.inference_mode()
def accuracy(clf: nn.Module, data, device, batch_size: int = 2000) -> float:
    """Share of `data` (a TensorData with labels) that `clf` classifies correctly."""
    clf.eval()
    correct = 0
    for start in range(0, len(data), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(data)))
        logits = clf(data.batch(idx).to(device))
        correct += int((logits.argmax(1).cpu() == data.y[idx]).sum())
    return correct / len(data)


# ----------------------------------------------------------------------------- protocol

def compare_once(run, train, evaluation, n_labels: int, seed: int, settings: PretrainSettings,
                 device) -> dict[str, float]:
    """Train the three variants for one seed; returns {variant: eval accuracy}."""
    shape = train.sample_shape
    x, y = labelled_subset(train, n_labels, seed)
    x, y = x.to(device), y.to(device)
    n_classes = int(train.y.max()) + 1
    if evaluation.y is not None and len(evaluation):
        n_classes = max(n_classes, int(evaluation.y.max()) + 1)
    pretrained = transfer_encoder(run.model).to(device)
    dim = coding_dim(pretrained, shape)
    head_seed = 10_000 + seed  # the same head init for the three variants

    def classifier(encoder):
        return Classifier(encoder, make_head(dim, n_classes, settings.head_hidden, head_seed,
                                                   settings.head_norm)
                          ).to(device)

    scratch = classifier(fresh_encoder(run.config, shape, 20_000 + seed).to(device))
    fit(scratch, x, y, settings.epochs, settings.lr, settings, torch.Generator().manual_seed(seed))

    frozen = classifier(pretrained)
    frozen.freeze(True)
    gen = torch.Generator().manual_seed(seed)
    fit(frozen, x, y, settings.frozen_epochs, settings.lr, settings, gen)
    tuned, tuned_gen = copy.deepcopy(frozen), torch.Generator().set_state(gen.get_state())
    fit(frozen, x, y, settings.epochs - settings.frozen_epochs, settings.lr, settings, gen)
    tuned.freeze(False)
    fit(tuned, x, y, settings.epochs - settings.frozen_epochs, settings.finetune_lr, settings,
        tuned_gen)
    return {"scratch": accuracy(scratch, evaluation, device),
            "frozen": accuracy(frozen, evaluation, device),
            "finetuned": accuracy(tuned, evaluation, device)}


def pretrain_classifier(run, n_labels: int = 500, settings: PretrainSettings | None = None,
                        seeds=(0, 1, 2), eval_split: str = "valid",
                        device: str = "cpu") -> PretrainResult:
    """Compare from-scratch, frozen-pretrained and fine-tuned classifiers (module docstring)
    trained on `n_labels` labels of `run`'s train split, evaluated on `eval_split`."""
    from latentforge.training.device import resolve_device

    settings = settings or PretrainSettings()
    settings.validate()
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("Give at least one seed.")
    dev = resolve_device(device)
    train, evaluation = run.split("train"), run.split(eval_split)
    if evaluation.y is None or len(evaluation) == 0:
        raise DataError(f"The '{eval_split}' split has no labelled items to evaluate on; "
                        "pick another with --split.")
    run.model.to("cpu")
    result = PretrainResult(run.config.model_name, n_labels, eval_split, len(evaluation),
                            coding_dim(run.model.encoder, train.sample_shape), seeds, settings,
                            {v: [] for v in VARIANTS})
    for seed in seeds:
        accs = compare_once(run, train, evaluation, n_labels, seed, settings, dev)
        log.info("seed %d: %s", seed, " ".join(f"{k}={v:.4f}" for k, v in accs.items()))
        for k, v in accs.items():
            result.accuracies[k].append(v)
    return result
