"""What each endpoint needs of a run's model, from its declared capabilities
(`evaluation.capabilities.can`): the run summary's "endpoints", and the 409 of an
endpoint the model cannot do, naming what is missing."""
from __future__ import annotations

from fastapi import HTTPException

from latentforge.evaluation.capabilities import WHAT, can, models_that

# Every endpoint takes or returns images, so every one also needs "images"; "items"
# (the test split's items as PNG files) needs nothing else and is not listed.
NEEDS = {"encode": ("encode",), "reconstruct": ("reconstruct",), "decode": ("decode",),
         "generate": ("generate",), "interpolate": ("decode",), "anomaly": (),
         "similar": ("encode",), "map": ("encode",), "items": ()}
ENDPOINTS = tuple(e for e in NEEDS if e != "items")  # what a run summary lists


def needs(model, endpoint: str) -> tuple[str, ...]:
    """The capabilities `endpoint` needs of `model` ("anomaly": the one its default
    anomaly score needs, `evaluation.anomaly.default_score`)."""
    from latentforge.evaluation.anomaly import NEEDS as SCORE_NEEDS, default_score

    extra = (SCORE_NEEDS[default_score(model)],) if endpoint == "anomaly" else ()
    return ("images", *NEEDS[endpoint], *extra)


def missing(model, endpoint: str) -> str | None:
    """Why `model` cannot do `endpoint` (a sentence naming the missing capability), or
    None when it can."""
    for capability in needs(model, endpoint):
        if not can(model, capability):
            return _lacks(capability)
    return _score_problem(model) if endpoint == "anomaly" else None


def _score_problem(model) -> str | None:
    """Why the model's default anomaly score cannot be given (`check_score`), or None."""
    from latentforge.errors import ConfigError
    from latentforge.evaluation.anomaly import check_score, default_score

    try:
        check_score(model, default_score(model))
    except ConfigError as exc:
        return str(exc).rstrip(".")
    return None


def endpoints(model) -> list[str]:
    """The endpoints `model` can do, in `ENDPOINTS` order."""
    return [e for e in ENDPOINTS if missing(model, e) is None]


def require(entry_name: str, run, endpoint: str, *capabilities: str) -> None:
    """409 unless the run can do `endpoint` and has every extra capability asked for
    (e.g. "conditional" for a label, "styles" for a truncation)."""
    why, how = missing(run.model, endpoint), ""
    if why is None:
        why, how = next((_lacks(c) for c in capabilities if not can(run.model, c)), None), \
            " as asked"
    if why:
        raise HTTPException(409, f"Run '{entry_name}' ({run.config.model_name}) cannot do "
                                 f"'{endpoint}'{how}: {why}.")


def _lacks(capability: str) -> str:
    if capability == "images":
        return "it was trained on table rows, not images (capability 'images')"
    return (f"that needs a model with {WHAT.get(capability, capability)} (capability "
            f"'{capability}'; models that have it: {models_that(capability)})")
