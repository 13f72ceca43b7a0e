"""Evaluate a run with what applies to its model: the losses of some splits, the test
likelihood of models with a posterior (VAEs), the sample metrics of generative models (on a
feature network: the caller's, else the shipped Fashion-MNIST one for (1, 28, 28) samples,
else skipped with a note saying how to make one) and, on request, Inception FID (optional
torch-fidelity package)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from latentforge.errors import ConfigError

@dataclass
class Evaluation:
    """losses: {split: {metric: value}}; likelihood: `likelihood_report` (nats per image,
    k importance samples) or None; samples: `sample_quality` of n_samples samples or None;
    samples_skipped: why a generative run got no sample metrics (else None); inception:
    `inception.inception_fid` of n_samples samples against the test images, or None."""

    losses: dict[str, dict[str, float]] = field(default_factory=dict)
    likelihood: dict | None = None
    k: int = 0
    samples: dict | None = None
    n_samples: int = 0
    samples_skipped: str | None = None
    inception: dict | None = None

    def to_dict(self) -> dict:
        """What evaluation.json holds: the splits' losses, "likelihood", "samples",
        "inception"."""
        out = dict(self.losses)
        if self.likelihood is not None:
            out["likelihood"] = self.likelihood
        if self.samples is not None:
            out["samples"] = self.samples
        if self.inception is not None:
            out["inception"] = self.inception
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


def evaluate_run(run, splits=("valid", "test"), samples: int = 10_000, k: int = 50,
                 feature_net=None, inception: bool = False) -> Evaluation:
    """The losses of `splits`; with k > 0 the test likelihood of a model with a posterior;
    with samples > 0 the sample metrics of a generative run on `feature_net` (a path to a
    network of ``latentforge featurenet train``, a loaded `featurenet.FeatureNet`, or None:
    the shipped one for (1, 28, 28) samples, else skipped); with `inception` also Inception
    FID of those samples. A network for another input shape, or Inception without its
    package or weights, raises before anything is measured."""
    from latentforge.evaluation.capabilities import can

    if samples < 0 or k < 0:
        raise ConfigError("--samples and --k must be >= 0")
    generative = can(run.model, "generate")
    net = _feature_net(run, feature_net) if generative and samples else None
    if inception:
        _check_inception(run, generative, samples)
    result = Evaluation(split_losses(run, splits), k=k, n_samples=samples)
    if can(run.model, "posterior") and k:
        result.likelihood = run_likelihood(run, k)
    if generative and samples:
        from latentforge.evaluation.sample_quality import (metric_shape, no_network_reason,
                                                           sample_quality)

        if net is None:
            result.samples_skipped = no_network_reason(metric_shape(run))
        else:
            result.samples = sample_quality(run, samples, net=net)
        if inception:
            result.inception = run_inception(run, samples)
    return result


def _feature_net(run, feature_net):
    """The loaded network for `run`'s samples (checked against their shape), or None when
    there is none (no `feature_net` and samples other than (1, 28, 28))."""
    from latentforge.evaluation.featurenet import load_feature_net
    from latentforge.evaluation.sample_quality import (metric_shape, network_for,
                                                       no_network_reason)

    if isinstance(feature_net, (str, Path)):
        feature_net = load_feature_net(feature_net)
    if feature_net is None and no_network_reason(metric_shape(run)):
        return None
    return network_for(run, feature_net)


def _check_inception(run, generative: bool, samples: int) -> None:
    """ConfigError unless Inception FID can be measured for this run and its package and
    weights are present."""
    from latentforge.evaluation.inception import check_available

    if not generative:
        raise ConfigError(f"--inception measures samples, and '{run.path}' holds a "
                          f"{run.config.model_name}, which does not generate them.")
    if not samples:
        raise ConfigError("--inception needs --samples > 0.")
    check_available()


def run_inception(run, samples: int, seed: int = 0) -> dict:
    """Inception FID of `samples` seeded samples of `run` against its test images (the
    same samples `sample_quality` draws with this seed)."""
    from latentforge.evaluation.inception import inception_fid
    from latentforge.evaluation.progress import phases
    from latentforge.generation.sampling import draw_samples

    with phases("inception", ["generate samples", "inception fid"]) as phase:
        phase("generate samples")
        images = draw_samples(run.model, samples, seed)
        phase("inception fid")
        return {**inception_fid(images, run.split("test").x), "split": "test"}


def write_evaluation(run, evaluation: Evaluation, out: str | Path | None = None) -> Path:
    """Write `evaluation.to_dict()` to `out` (default RUN/evaluation.json)."""
    from latentforge.tasks.files import save_json

    return save_json(Path(out) if out else Path(run.path) / "evaluation.json",
                     evaluation.to_dict())
