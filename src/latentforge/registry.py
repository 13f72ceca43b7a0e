"""The model registry: name -> (config class, model class, recipes).

The CLI's model choices, `load_run` and the conformance tests all read it. Models register
themselves with `@register(...)` in their module; `latentforge.models` imports them all.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

from latentforge.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    recipes: recipe name -> {"model": {...}, "data": {...}, "train": {...}} overrides of
        the dataclass defaults; every model has at least "book".
    tiny: overrides that make the model small and quick (conformance tests, smoke runs).
    """

    name: str
    model_cls: type
    config_cls: type
    summary: str
    recipes: dict
    tiny: dict


_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, config_cls: type, summary: str, recipes: dict,
             tiny: dict | None = None) -> Callable[[type], type]:
    """Class decorator adding a model to the registry; a duplicate name raises."""
    if "book" not in recipes:
        raise ValueError(f"Model '{name}' must define a 'book' recipe")

    def wrap(model_cls: type) -> type:
        if name in _REGISTRY:
            raise ValueError(f"Model name '{name}' is already registered")
        _REGISTRY[name] = ModelSpec(name, model_cls, config_cls, summary, recipes, tiny or {})
        return model_cls

    return wrap


def _load_builtin() -> None:
    import latentforge.models  # noqa: F401  (registers the built-in models)


def names() -> list[str]:
    """Registered model names, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The spec of `name`; unknown names raise ConfigError with close matches."""
    _load_builtin()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigError(f"Unknown model '{name}'.{hint} Available: {', '.join(names())}")
    return _REGISTRY[name]
