"""Evaluate a run with what applies to its model: the losses of some splits, the test
likelihood of models with a posterior (VAEs), and the sample metrics of generative models
(Fashion-MNIST runs only: the shipped feature network knows no other data)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from latentforge.errors import ConfigError

SAMPLES_SKIPPED = "the shipped feature network is for Fashion-MNIST"


@dataclass
class Evaluation:
    """losses: {split: {metric: value}}; likelihood: `likelihood_report` (nats per image,
    k importance samples) or None; samples: `sample_quality` of n_samples samples or None;
    samples_skipped: why a generative run got no sample metrics (else None)."""

    losses: dict[str, dict[str, float]] = field(default_factory=dict)
    likelihood: dict | None = None
    k: int = 0
    samples: dict | None = None
    n_samples: int = 0
    samples_skipped: str | None = None

    def to_dict(self) -> dict:
        """What evaluation.json holds: the splits' losses, "likelihood", "samples"."""
        out = dict(self.losses)
        if self.likelihood is not None:
            out["likelihood"] = self.likelihood
        if self.samples is not None:
            out["samples"] = self.samples
        return out


def split_losses(run, splits=("valid", "test")) -> dict[str, dict[str, float]]:
    """{split: run.evaluate(split)}; shows the phases on a terminal."""
    from latentforge.evaluation.progress import phases

    results = {}
    with phases("evaluate", [f"{split} losses" for split in splits]) as phase:
        for split in splits:
            phase(f"{split} losses")
            results[split] = run.evaluate(split)
    return results


def run_likelihood(run, k: int = 50) -> dict:
    """The test ELBO and IWAE NLL (k importance samples) of a model with a posterior."""
    from latentforge.evaluation.likelihood import likelihood_report
    from latentforge.evaluation.progress import phases

    with phases("evaluate", ["test likelihood"]) as phase:
        phase(f"test likelihood (k={k})")
        return likelihood_report(run, "test", k=k)


def evaluate_run(run, splits=("valid", "test"), samples: int = 10_000,
                 k: int = 50) -> Evaluation:
    """The losses of `splits`; with k > 0 the test likelihood of a model with a posterior;
    with samples > 0 the sample metrics of a generative Fashion-MNIST run."""
    from latentforge.evaluation.capabilities import can

    if samples < 0 or k < 0:
        raise ConfigError("--samples and --k must be >= 0")
    result = Evaluation(split_losses(run, splits), k=k, n_samples=samples)
    if can(run.model, "posterior") and k:
        result.likelihood = run_likelihood(run, k)
    if can(run.model, "generate") and samples:
        from latentforge.evaluation.sample_quality import SOURCES, sample_quality

        if run.config.data.source in SOURCES:
            result.samples = sample_quality(run, samples)
        else:
            result.samples_skipped = SAMPLES_SKIPPED
    return result


def write_evaluation(run, evaluation: Evaluation, out: str | Path | None = None) -> Path:
    """Write `evaluation.to_dict()` to `out` (default RUN/evaluation.json)."""
    from latentforge.tasks.files import save_json

    return save_json(Path(out) if out else Path(run.path) / "evaluation.json",
                     evaluation.to_dict())
