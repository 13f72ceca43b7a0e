"""Run configuration: dataclasses, recipes, JSON/TOML files and ``--set a.b=c`` overrides.

A `RunConfig` holds everything needed to rebuild and retrain a model: the registered model
name, the recipe it started from, and three sections (``model``, ``data``, ``train``).
It is saved as ``config.json`` in every run directory.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import sys
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from latentforge.data.config import DataConfig
from latentforge.errors import ConfigError

CONFIG_SECTIONS = ("model", "data", "train")
OPTIMIZERS = ("sgd", "rmsprop", "adam", "nadam")  # training.optim builds each
SCHEDULES = ("constant", "step", "cosine")  # training.schedules computes each
PRECISIONS = ("32", "bf16", "16-mixed")  # training.precision runs each
# torch.manual_seed / Generator.manual_seed take [-2**63, 2**64 - 1]; a negative seed is the
# same seed as 2**64 + seed, so only the non-negative range is allowed (one name per seed).
MAX_SEED = 2**64 - 1


@dataclass
class TrainConfig:
    """How the one training engine runs. Defaults follow the book's Keras code.

    optimizer: "sgd" | "rmsprop" | "adam" | "nadam"; lr, momentum: Keras SGD defaults are
        lr 0.01, momentum 0; the recipes set the chapter's values.
    rho/eps: Keras RMSprop rho 0.9 and epsilon 1e-7 (torch's default eps is 1e-8).
    betas: Adam/Nadam (Keras: 0.9, 0.999).
    batch_size: Keras fit() default 32; the last, smaller batch of an epoch is kept (as Keras)
        unless drop_last.
    eval_batch_size: large batches for validation (no effect on the numbers).
    device: "auto" (cuda, then mps, then cpu) | "cpu" | "cuda" | "mps".
    threads: torch intra-op threads for this run; None keeps torch's default.
    seed: seeds parameters init, shuffling and noise; same seed + same device = same run.
    progress: show a progress bar on a terminal.
    tensorboard: write TensorBoard scalars to RUN/tensorboard/ (needs the `tensorboard`
        extra: pip install 'latentforge[tensorboard]').

    Step options (training/step.py; the defaults change nothing, and a run resumes
    bitwise-identically with any of them on):
    clip_norm: clip the global gradient norm of each optimizer's parameters to this value
        before its step (None: off). Clipping needs the gradients, so the dense models'
        hand-fused SGD step is not used while it is on.
    ema_decay: keep an exponential moving average of the parameters, updated after every
        engine step: ema = decay * ema + (1 - decay) * weights (None: off). With it on,
        validation metrics, the sample grid, the returned model and the run's top-level
        model.safetensors (what load_run / generate read) use the averaged weights; the raw
        weights stay in the checkpoint folder, for resume.
    ema_warmup: with ema_decay, the decay of the n-th engine step (n = 0, 1, ...) is
        min(ema_decay, (1 + n) / (10 + n)) (TensorFlow's ExponentialMovingAverage rule), so
        a short run's average is not held at the initial weights (0.999 spans ~1,000 steps).
    schedule: the learning rate of every optimizer, per engine step (one batch; the step
        each optimizer takes on it): "constant" (lr), "step" (lr * gamma ** (k // step_size)
        after the warm-up) or "cosine" (from lr down to 0 over the run's total steps,
        epochs * batches per epoch). The configured lr is the base: `--resume --set
        train.lr=...` rescales the rest of the schedule, which continues at the saved step.
    step_size, gamma: the "step" schedule's period (engine steps) and factor in (0, 1].
    warmup_steps: linear warm-up from lr / warmup_steps to lr over the first warmup_steps
        engine steps, before any schedule (0: off).
    precision: "32" (float32 everywhere; the number 32 is read as "32") | "bf16" (each
        training step under bfloat16 autocast; CPU, CUDA, MPS) | "16-mixed" (float16
        autocast and a gradient scaler whose state is checkpointed; CUDA only, refused
        where the device is resolved). Weights, gradients and optimizer states stay
        float32, validation runs in float32, and the dense models' hand-fused SGD step is
        used only in "32" (training/precision.py).
    compile: run the model's networks through torch.compile (training/compiling.py;
        each model names what it compiles: `Model.compile_networks`). The first steps
        take the compile time; the numbers stay those of the eager run up to float
        rounding.
    compile_backend: torch.compile's backend: "inductor" (generated kernels; on CPU it
        needs a C++ compiler, e.g. apt install g++) or another of
        torch._dynamo.list_backends() ("aot_eager": captured graphs, no code generation).
    drop_last: leave out each epoch's last, smaller batch (tf.data's drop_remainder), so
        every step has the same shape; off keeps it, as Keras's fit does.
    """

    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    rho: float = 0.9
    eps: float = 1e-7
    betas: tuple[float, float] = (0.9, 0.999)
    eval_batch_size: int = 2000
    device: str = "auto"
    threads: int | None = None
    seed: int = 42
    progress: bool = True
    tensorboard: bool = False
    clip_norm: float | None = None
    ema_decay: float | None = None
    ema_warmup: bool = False
    schedule: str = "constant"
    step_size: int = 1000
    gamma: float = 0.1
    warmup_steps: int = 0
    precision: str | int = "32"
    compile: bool = False
    compile_backend: str = "inductor"
    drop_last: bool = False

    def validate(self) -> None:
        """Raise ConfigError for values no run can use: counts below their minimum, an
        unknown optimizer, lr and eps not finite and > 0, momentum, rho and each beta outside
        [0, 1) (a momentum or decay of 1 or more never forgets a gradient: the steps grow
        without bound), a seed outside [0, 2**64 - 1]. NaN fails every check."""
        for name in ("epochs", "batch_size", "eval_batch_size", "threads"):
            value, low = getattr(self, name), 0 if name == "epochs" else 1
            if value is not None and value < low:
                raise ConfigError(f"train.{name} must be at least {low}, got {value}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"Unknown optimizer '{self.optimizer}'. Available: "
                              f"{', '.join(OPTIMIZERS)}")
        for name in ("lr", "eps"):
            if not 0 < getattr(self, name) < math.inf:
                raise ConfigError(f"train.{name} must be positive and finite, "
                                  f"got {getattr(self, name)}")
        for name, value in (("momentum", self.momentum), ("rho", self.rho),
                            ("betas[0]", self.betas[0]), ("betas[1]", self.betas[1])):
            if not 0 <= value < 1:
                raise ConfigError(f"train.{name} must be in [0, 1), got {value}")
        check_seed(self.seed, "train.seed")
        self.validate_step_options()
        self.validate_precision()

    def validate_step_options(self) -> None:
        """ConfigError unless clip_norm is None or positive and finite, ema_decay None or in
        [0, 1), schedule one of SCHEDULES, step_size >= 1, gamma in (0, 1], warmup_steps
        >= 0."""
        if self.clip_norm is not None and not 0 < self.clip_norm < math.inf:
            raise ConfigError(f"train.clip_norm must be positive and finite (or null for no "
                              f"clipping), got {self.clip_norm}")
        if self.ema_decay is not None and not 0 <= self.ema_decay < 1:
            raise ConfigError(f"train.ema_decay must be in [0, 1) (or null for no average), "
                              f"got {self.ema_decay}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"Unknown train.schedule '{self.schedule}'. Available: "
                              f"{', '.join(SCHEDULES)}")
        if self.step_size < 1 or self.warmup_steps < 0:
            raise ConfigError(f"train.step_size must be at least 1 and train.warmup_steps at "
                              f"least 0, got {self.step_size} and {self.warmup_steps}")
        if not 0 < self.gamma <= 1:
            raise ConfigError(f"train.gamma must be in (0, 1], got {self.gamma}")

    def validate_precision(self) -> None:
        """ConfigError unless precision is one of PRECISIONS; the number 32 (``--set
        train.precision=32`` parses as JSON) becomes "32", so a config saves one spelling.
        Whether the device can run it is checked where the device is resolved."""
        if type(self.precision) is int and self.precision == 32:
            self.precision = "32"
        if self.precision not in PRECISIONS:
            raise ConfigError(f"Unknown train.precision '{self.precision}'. Available: "
                              f"{', '.join(PRECISIONS)} (16-mixed needs a CUDA GPU)")


def check_seed(value: int, where: str) -> None:
    """ConfigError unless `value` is a seed in [0, MAX_SEED] (what torch's generators take).
    where: the field or option, e.g. "train.seed"."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{where} must be an integer in [0, 2**64 - 1], got {value}")


@dataclass
class RunConfig:
    """Everything a run directory needs to rebuild its model with no flags."""

    model_name: str
    recipe: str
    model: Any
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> None:
        """Raise ConfigError for model or train values no run can use (the model config's
        own `validate()`, then `TrainConfig.validate`); data is checked when it loads."""
        self.model.validate()
        self.train.validate()

    def to_dict(self) -> dict:
        from latentforge import __version__

        return {
            "model_name": self.model_name,
            "recipe": self.recipe,
            "latentforge_version": __version__,
            "model": asdict(self.model),
            "data": asdict(self.data),
            "train": asdict(self.train),
        }

    def save(self, path: Path) -> None:
        from latentforge.atomic import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")


# Old config keys that still load (a run's config.json, a --config file, --set): (section,
# old key) -> the current key. Each use logs one line; configs are saved with the new key.
KEY_ALIASES = {("model", "codings"): "latent_dim"}  # the GANs' latent size, once "codings"

_log = logging.getLogger(__name__)


def build_config(model_name: str, recipe: str = "book", file: str | Path | None = None,
                 overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Resolve a run config: dataclass defaults, then the recipe, the file, the overrides;
    then validate it (ConfigError for values no run can use)."""
    from latentforge.registry import get_spec

    spec = get_spec(model_name)
    if recipe not in spec.recipes:
        raise ConfigError(f"Model '{model_name}' has no recipe '{recipe}'. "
                          f"Available: {', '.join(spec.recipes)}")
    cfg = RunConfig(model_name, recipe, spec.config_cls())
    apply_dict(cfg, spec.recipes[recipe], origin=f"recipe '{recipe}'")
    if file is not None:
        data = load_file(file)
        for key in ("model_name", "recipe", "latentforge_version"):
            data.pop(key, None)
        apply_dict(cfg, data, origin=str(file))
    for item in overrides:
        apply_override(cfg, item)
    cfg.validate()
    return cfg


def config_from_dict(data: dict) -> RunConfig:
    """Rebuild a saved `RunConfig` (the content of a run's config.json), validated."""
    from latentforge.registry import get_spec

    try:
        name, recipe = data["model_name"], data.get("recipe", "custom")
    except (KeyError, TypeError):
        raise ConfigError("config.json has no 'model_name'; is it a latentforge run?") from None
    cfg = RunConfig(name, recipe, get_spec(name).config_cls())
    apply_dict(cfg, {k: data[k] for k in CONFIG_SECTIONS if k in data}, origin="config.json")
    cfg.validate()
    return cfg


def load_file(path: str | Path) -> dict:
    """Read a JSON or TOML config file into a dict with sections model/data/train."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file '{path}' does not exist.")
    try:
        if path.suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(path.read_text())
        else:
            data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file '{path}' is not valid {path.suffix[1:] or 'JSON'}: "
                          f"{exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config file '{path}': expected a table of sections {CONFIG_SECTIONS}.")
    return data


def apply_dict(cfg: RunConfig, data: dict, origin: str) -> None:
    """Set every ``section.key`` of `data` on `cfg`, type-checked."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a table of sections {CONFIG_SECTIONS}.")
    for section, values in data.items():
        if section not in CONFIG_SECTIONS:
            raise ConfigError(f"{origin}: unknown section '{section}'. Sections: "
                              f"{', '.join(CONFIG_SECTIONS)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: section '{section}' must be a table of values.")
        for key, value in values.items():
            set_value(cfg, f"{section}.{key}", value, origin)


def apply_override(cfg: RunConfig, item: str) -> None:
    """Apply one ``section.key=value`` override; the value is parsed as JSON, else a string."""
    key, sep, text = item.partition("=")
    if not sep:
        raise ConfigError(f"Override '{item}' must look like section.key=value, "
                          "e.g. train.epochs=5")
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    set_value(cfg, key.strip(), value, origin=f"--set {item}")


def set_value(cfg: RunConfig, dotted: str, value: Any, origin: str) -> None:
    section, _, name = dotted.partition(".")
    if section not in CONFIG_SECTIONS or not name:
        raise ConfigError(f"{origin}: '{dotted}' must be section.key with section one of "
                          f"{', '.join(CONFIG_SECTIONS)}")
    target = getattr(cfg, section)
    types_ = {f.name: f.type for f in fields(target)}
    name = current_key(section, name, types_, origin)
    if name not in types_:
        raise ConfigError(f"{origin}: unknown key '{dotted}'. Keys of '{section}': "
                          f"{', '.join(types_)}")
    hint = typing.get_type_hints(type(target))[name]
    setattr(target, name, coerce(value, hint, f"{origin}: {dotted}"))


def current_key(section: str, name: str, keys, origin: str) -> str:
    """`name`, or the key `KEY_ALIASES` renamed it to when `keys` (the section's fields)
    have the new key and not the old one; logs the rename."""
    new = KEY_ALIASES.get((section, name))
    if name in keys or new not in keys:
        return name
    _log.info("%s: %s.%s is the old name of %s.%s; read as %s.%s", origin, section, name,
              section, new, section, new)
    return new


def coerce(value: Any, hint: Any, where: str) -> Any:
    """Check `value` against a dataclass field's type hint; convert lists to tuples,
    ints to floats and integral floats (5.0, 1e9) to ints where the hint asks; a union
    (``int | str | None``) takes the first option that fits. Raises ConfigError naming the
    expected type."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for opt in options:
            if opt is type(None):
                continue
            try:
                return coerce(value, opt, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where} = {value!r} should be {_name(hint)}")
    if origin in (tuple, list):
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} = {value!r} should be a list like [1, 2]")
        item = args[0] if args else Any
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where} = {value!r} should have {len(args)} items")
            return tuple(coerce(v, a, where) for v, a in zip(value, args))
        out = [coerce(v, item, where) for v in value]
        return tuple(out) if origin is tuple else out
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"{where} = {value!r} should be {_name(hint)}")


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint)).replace("NoneType", "None")


def describe(cfg: RunConfig) -> str:
    """The resolved config as pretty JSON (what ``latentforge config`` prints)."""
    return json.dumps(cfg.to_dict(), indent=2)


def replace_train(cfg: RunConfig, **changes) -> RunConfig:
    """A copy of `cfg` with some train fields changed."""
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **changes))
