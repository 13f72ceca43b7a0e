"""Run the chapter's sections (see `sections.py`) into one folder and collect, per section,
the "book vs ours" rows, the figures and the wall time.

Layout: OUT/<section key>/ is that section's run (or greedy root), OUT/<key>/section.json its
result; a section whose section.json was written by the same profile is reused, so an
interrupted chapter continues where it stopped. OUT/chapter.json and OUT/chapter.html
(`page.write_chapter_page`) gather everything. Sections train with `latentforge.train`
and use the runs through `latentforge.tasks` (map, samples, interpolation, sample metrics,
pretraining, greedy training), as the CLI does.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from latentforge.chapter.sections import ACC, LOSS, PROFILES, SECTIONS, Section
from latentforge.errors import ConfigError
from latentforge.atomic import atomic_write_text

log = logging.getLogger(__name__)
RESULT = "section.json"
SMOKE_DATA = ("data.source=digits", "data.limit_train=200", "data.limit_eval=100")
# Items measured by the extras: (full, quick, smoke).
MAP_POINTS = {"full": 5000, "quick": 2000, "smoke": 100}
SAMPLES = {"full": 10_000, "quick": 2000, "smoke": 0}
PRETRAIN_SEEDS = {"full": [0, 1, 2], "quick": [0], "smoke": [0]}
# The rows of GAN sections (the book prints no values for them): (metric, history key).
GAN_ROWS = (("val D loss", "val_d_loss"), ("val G loss", "val_g_loss"),
            ("val D acc on fakes", "val_d_fake_acc"))


@dataclass
class SectionResult:
    """rows: [metric, book value, our value (text)]; figures: paths relative to OUT;
    recipe: what ran (recipe name and overrides)."""

    key: str
    title: str
    profile: str
    recipe: str = ""
    rows: list[list[str]] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cut: bool = False
    note: str = ""


def run_chapter(out: str | Path, profile: str = "quick", only=None, overwrite: bool = False,
                progress=None) -> list[SectionResult]:
    """Run (or reuse) every section, or those keyed in `only` plus what they need; write
    OUT/chapter.json and OUT/chapter.html; return the results in book order."""
    from latentforge.chapter.page import write_chapter_page

    if profile not in PROFILES:
        raise ConfigError(f"Unknown profile '{profile}'. Available: {', '.join(PROFILES)}")
    out = Path(out)
    wanted = _with_dependencies(only)
    results, start = [], time.perf_counter()
    for section in SECTIONS:
        if section.key in wanted:
            results.append(_run_or_reuse(section, out, profile, overwrite))
            if progress:
                progress(_summary_line(results[-1]))
    total = time.perf_counter() - start
    atomic_write_text(out / "chapter.json", json.dumps(
        {"profile": profile, "seconds": round(total, 1),
         "sections": [asdict(r) for r in results]}, indent=2) + "\n")
    write_chapter_page(out, results, profile, total)
    return results


def _with_dependencies(only) -> set[str]:
    keys = [s.key for s in SECTIONS]
    if not only:
        return set(keys)
    unknown = sorted(set(only) - set(keys))
    if unknown:
        raise ConfigError(f"Unknown chapter sections {unknown}. Available: {', '.join(keys)}")
    needs = {s.key: s.after for s in SECTIONS}
    return set(only) | {dep for key in only for dep in needs[key]}


def _run_or_reuse(section: Section, out: Path, profile: str, overwrite: bool) -> SectionResult:
    saved = out / section.key / RESULT
    if saved.is_file() and not overwrite:
        data = json.loads(saved.read_text())
        if data.get("profile") == profile:
            log.info("chapter: reusing %s", saved)
            return SectionResult(**data)
    start = time.perf_counter()
    result = SectionResult(section.key, section.title, profile, cut=section.cut
                           and profile == "quick", note=section.note)
    RUNNERS[section.kind](section, out, profile, result)
    result.seconds = round(time.perf_counter() - start, 1)
    atomic_write_text(saved, json.dumps(asdict(result), indent=2) + "\n")
    return result


def _summary_line(r: SectionResult) -> str:
    import textwrap

    ours = "; ".join(f"{m} {v}" for m, _, v in r.rows[:2])
    return f"[{r.seconds:6.1f} s] {r.key}: {ours or textwrap.shorten(r.note, 70)}"


def _overrides(section: Section, profile: str) -> tuple[str, list[str]]:
    """(recipe, --set overrides) of a training section in a profile."""
    from latentforge.registry import get_spec

    base = ["train.progress=false", *section.overrides]
    if profile == "full":
        return section.recipe, base
    if profile == "quick":
        return section.quick_recipe, [*base, *section.quick]
    spec = get_spec(section.model)
    tiny = [f"{sec}.{k}={json.dumps(v)}" for sec, vals in spec.tiny.items()
            for k, v in vals.items()]
    data = [] if section.model == "linear_ae" else list(SMOKE_DATA)
    return section.quick_recipe, [*base, *section.quick, *data, *tiny, "train.epochs=1"]


def _train_section(section: Section, out: Path, profile: str, result: SectionResult) -> None:
    import latentforge as lf
    from latentforge.viz.run_figures import write_figures

    recipe, overrides = _overrides(section, profile)
    result.recipe = " ".join([f"{section.model} {recipe}", *overrides[1:]])
    run = lf.train(section.model, recipe, overrides=overrides, run_dir=out / section.key,
                   overwrite=True)
    write_figures(run)
    last = run.history[-1] if run.history else {}
    names = {LOSS: "val_loss", ACC: "val_rounded_accuracy"}
    result.rows += [[m, b, _fmt(last.get(names[m]))] for m, b in section.book if m in names]
    if not section.book and "val_rounded_accuracy" in last:  # an autoencoder, no book value
        result.rows += [[m, "-", _fmt(last[names[m]])] for m in (LOSS, ACC)]
    if not section.book and "val_d_loss" in last:  # a GAN: the book prints no losses
        result.rows += [[m, "-", _fmt(last.get(k))] for m, k in GAN_ROWS if k in last]
    for extra in section.extras:
        EXTRAS[extra](run, profile, result, section)
    run.report()
    result.figures += _figures(out, section)


def _figures(out: Path, section: Section) -> list[str]:
    folder = out / section.key / "figures"
    found = [p for pattern in section.figures for p in sorted(folder.glob(pattern))]
    return [p.relative_to(out).as_posix() for p in found]


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _pca_extra(run, profile, result, section) -> None:
    """Angle between the decoder's plane and PCA's, MSE against PCA's, fig. 17-2."""
    import numpy as np
    import torch

    from latentforge.evaluation.metrics import pca_reconstruction_mse, principal_angles_deg
    from latentforge.viz.figures import save_figure, scatter_2d

    x = run.data().train.x.numpy().astype(np.float64)
    _, _, vt = np.linalg.svd(x - x.mean(0))
    weight = run.model.decoder[0][0].weight.detach().numpy()
    angle = float(principal_angles_deg(weight, vt[:2].T).max())
    with torch.no_grad():
        codes = run.encode(torch.from_numpy(x).float()).numpy()
        mse = float(((run.model(torch.from_numpy(x).float()).numpy() - x) ** 2).mean())
    result.rows[:] = [["angle to PCA plane (deg)", "0 (same plane)", f"{angle:.2f}"],
                      ["MSE / PCA's MSE", "1", f"{mse / pca_reconstruction_mse(x, 2):.4f}"]]
    save_figure(scatter_2d(codes), Path(run.path) / "figures" / "codings_2d.png")


def _map_extra(run, profile, result, section) -> None:
    from latentforge.tasks import map_codings

    map_codings(run, "tsne", "valid", MAP_POINTS[profile])


def _samples_extra(run, profile, result, section) -> None:
    from latentforge.tasks import generate, samples_png

    samples_png(run, generate(run, 40, 0), n_cols=10)


def _interpolate_extra(run, profile, result, section) -> None:
    from latentforge.tasks import interpolation_figure

    interpolation_figure(run, "grid")


def _sample_metrics_extra(run, profile, result, section) -> None:
    """FID and class coverage of generated samples (Fashion-MNIST runs only)."""
    from latentforge.tasks import evaluate_run

    n = SAMPLES[profile]
    q = evaluate_run(run, splits=(), samples=n, k=0).samples if n else None
    if q is None:
        return
    result.rows += [[f"FID ({n} samples)", "-", f"{q['fid']:.1f}"],
                    ["classes covered", "-", f"{q['classes_covered']}/10"]]


def _top_activations_extra(run, profile, result, section) -> None:
    """Exercise 9: the training images that activate each coding unit most."""
    from latentforge.tasks import top_activations, top_activations_png

    top_activations_png(top_activations(run, n=MAP_POINTS[profile]),
                        Path(run.path) / "figures" / "top_activations.png")


def _arithmetic_extra(run, profile, result, section) -> None:
    """The chapter's latent arithmetic, sneaker - ankle boot + sandal (classes 7 - 9 + 5;
    digits in the smoke profile): class means of encoded test images (autoencoders) or of
    generated samples labelled by the shipped classifier (GANs; not in the smoke profile,
    whose 8x8 digits that classifier cannot label)."""
    from latentforge.evaluation.capabilities import can
    from latentforge.tasks import arithmetic_png, latent_arithmetic

    if profile == "smoke" and not can(run.model, "encode"):
        return
    res = latent_arithmetic(run, ["7", "-", "9", "+", "5"], n=SAMPLES[profile] or 200)
    arithmetic_png(res, Path(run.path) / "figures" / "arithmetic.png")


def _growth_extra(run, profile, result, section) -> None:
    """ProGAN: G's samples at the end of each growth phase."""
    from latentforge.tasks.growth import growth_png

    growth_png(run)


def _style_mix_extra(run, profile, result, section) -> None:
    """StyleGAN: B's coarse, middle and fine styles copied into A (paper's fig. 3)."""
    from latentforge.tasks import style_mix, style_mix_png

    style_mix_png(style_mix(run), Path(run.path) / "figures" / "style_mix.png")


def _pretrain_section(section: Section, out: Path, profile: str, result) -> None:
    """The book's 500-label comparison on the stacked section's encoder."""
    from latentforge.api import load_run
    from latentforge.tasks import pretrain, write_pretrain
    from latentforge.tasks.representation import pretrain_settings

    run = load_run(out / "stacked")
    labels, settings = (500, pretrain_settings()) if profile != "smoke" else \
        (50, pretrain_settings(epochs=2, frozen_epochs=1))
    res = pretrain(run, labels, settings, PRETRAIN_SEEDS[profile], "valid")
    result.recipe = (f"{labels} labels, encoder of the stacked section, seeds "
                     f"{PRETRAIN_SEEDS[profile]}")
    write_pretrain(run, res, labels, "valid", out / section.key / "pretrain.json")
    for (metric, book), variant in zip(section.book, ("scratch", "frozen", "finetuned")):
        result.rows.append([metric, book, f"{res.mean(variant):.4f}"])


def _greedy_section(section: Section, out: Path, profile: str, result) -> None:
    from latentforge.api import load_run
    from latentforge.tasks import greedy, reconstruct

    epochs = 1 if profile == "smoke" else 10  # the book's 10 epochs per phase
    overrides = SMOKE_DATA if profile == "smoke" else ()
    result.recipe = f"greedy phases 100, 30 and fine-tuning, {epochs} epochs each"
    summary = greedy(out, section.key, (100, 30), epochs, epochs, overrides=overrides,
                     progress=False, overwrite=True).summary
    ours = [summary["phase1"].get("val_loss"), summary["phase2"].get("val_loss"),
            summary["stack"].get("val_loss"), summary["stack"].get("val_rounded_accuracy")]
    result.rows += [[m, b, _fmt(v)] for (m, b), v in zip(section.book, ours)]
    reconstructions = reconstruct(load_run(out / section.key / "stack"))
    result.figures.append(reconstructions.relative_to(out).as_posix())


RUNNERS = {"train": _train_section, "pretrain": _pretrain_section, "greedy": _greedy_section}
EXTRAS = {"pca": _pca_extra, "map": _map_extra, "samples": _samples_extra,
          "interpolate": _interpolate_extra, "sample_metrics": _sample_metrics_extra,
          "top_activations": _top_activations_extra, "arithmetic": _arithmetic_extra,
          "growth": _growth_extra, "style_mix": _style_mix_extra}
