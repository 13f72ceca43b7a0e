"""Field checks for the model configs' `validate()` methods.

Every model config dataclass has a ``validate()`` made of these checks; `build_config`,
`config_from_dict` and each model's constructor call it, so ``latentforge config``,
``train`` and `load_run` refuse the same values with the same message. Each check raises
one `ConfigError` naming the field (``model.NAME``), the rule and the value. Comparisons
are written so that NaN fails them.
"""
from __future__ import annotations

import math

from latentforge.errors import ConfigError


def require(ok: bool, name: str, rule: str, value) -> None:
    """ConfigError "model.NAME must be RULE, got VALUE" unless `ok`."""
    if not ok:
        shown = list(value) if isinstance(value, tuple) else value
        raise ConfigError(f"model.{name} must be {rule}, got {shown!r}")


def check_sizes(name: str, values, min_len: int = 1, what: str = "layer sizes") -> None:
    """`values`: at least `min_len` integers (0: may be empty), each >= 1."""
    ok = len(values) >= min_len and all(v >= 1 for v in values)
    count = {0: "a list", 1: "a non-empty list"}.get(min_len, f"a list of at least {min_len}")
    require(ok, name, f"{count} of positive {what}", values)


def check_choice(name: str, value, options) -> None:
    """`value` is one of `options`."""
    require(value in options, name, f"one of {', '.join(map(str, options))}", value)


def check_at_least(name: str, value: float, low: float) -> None:
    """low <= value < inf."""
    require(low <= value < math.inf, name, f"at least {low}", value)


def check_fraction(name: str, value: float, low_open: bool = False,
                   high_closed: bool = False) -> None:
    """value in [0, 1) by default; (0, ...) when `low_open`, (..., 1] when `high_closed`."""
    low_ok = value > 0 if low_open else value >= 0
    high_ok = value <= 1 if high_closed else value < 1
    rule = f"in {'(' if low_open else '['}0, 1{']' if high_closed else ')'}"
    require(low_ok and high_ok, name, rule, value)


def check_activation(name: str, value: str | None, optional: bool = False) -> None:
    """A Keras activation name known to `layers.activation` (or None when `optional`)."""
    from latentforge.models.layers import ACTIVATIONS

    if value is None and optional:
        return
    check_choice(name, value, tuple(ACTIVATIONS))


def check_corruption(kind: str, rate: float) -> None:
    """Input corruption of denoising models: a known kind; rate >= 0, < 1 for dropout."""
    from latentforge.models.layers import CORRUPTIONS

    check_choice("corruption", kind, CORRUPTIONS)
    if kind == "dropout":
        check_fraction("corruption_rate", rate)
    elif kind != "none":
        check_at_least("corruption_rate", rate, 0)

