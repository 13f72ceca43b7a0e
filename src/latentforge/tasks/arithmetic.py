"""Latent vector arithmetic on a run (the chapter's DCGAN figure): the mean coding of each
group of images, A - B + C decoded, with neighbours around the result.

Where the groups come from:
- models that encode (autoencoders, VAEs: the posterior mean): `n` seeded items of a split
  (test by default), grouped by their true labels, codings = `encode(x)`;
- unconditional generators (gan, dcgan): `n` seeded codings z ~ N(0, I), their images
  labelled by a classifier: a feature network of `latentforge featurenet train` (its
  classes from its metadata), or by default the shipped Fashion-MNIST CNN, which takes
  (1, 28, 28) images (other shapes are refused unless the run is conditional);
- conditional generators: z drawn for the classes in turn (0, 1, ..., K-1, 0, ...), grouped
  by the label they were generated with; the class lives in the label input, so the
  arithmetic acts on z (the style) and the result is decoded with `label` (default: the
  class of the first term);
- models with a style space (stylegan): as the generators above, but the codes are
  w = mapping(z), decoded with the same noise maps for every image
  (`generation.styles.decode_styles`).

The result's neighbours are result + 0.25 x std(codes) x eps (per dimension, eps ~ N(0, I)
seeded), the DCGAN paper's 3x3 grid of perturbed results.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from latentforge.errors import ConfigError, DataError

N_SHOWN = 4      # members shown per group
N_RESULTS = 9    # the result and 8 neighbours (a 3x3 grid)
DECODE_BATCH = 500


@dataclass
class Arithmetic:
    """expression: e.g. "Sneaker - Ankle boot + Sandal"; terms (generation.arithmetic.Term);
    counts: members per group; members (T, M, *shape), means (T, *shape) decoded group
    means, results (9, *shape): the decoded result then its neighbours (numpy in [0, 1]);
    space: "z", "w" or "codings"; grouping: what was grouped (e.g. "test items")."""

    expression: str
    terms: list
    counts: list[int]
    members: object
    means: object
    results: object
    space: str
    grouping: str


@dataclass
class _Groups:
    """codes (N, D), labels (N,), images (N, *shape), class names,
    decode(codes, label or None) -> images, the space's name and what was grouped."""

    codes: object
    labels: object
    images: object
    classes: list[str]
    decode: Callable
    space: str
    grouping: str


def latent_arithmetic(run, expression, n: int = 2000, seed: int = 0, split: str = "test",
                      label: int | None = None, net=None, classes=None) -> Arithmetic:
    """A - B + C (any signed sum of classes) on `run`'s latent space (module docstring).
    expression: tokens such as ["sneaker", "-", "ankle boot", "+", "sandal"] (names or
    class indices). n: items encoded or samples drawn. label: the class the result is
    decoded with (conditional runs only). net / classes: the classifier of an
    unconditional generator's samples (a module, or the path of a feature network, whose
    metadata names its classes) and its class names (default: the shipped Fashion-MNIST
    CNN)."""
    import torch

    from latentforge.config import check_seed
    from latentforge.generation.arithmetic import (NEIGHBOUR_SCALE, combine,
                                                   expression_text, group_means,
                                                   neighbours, parse_terms)

    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    check_seed(seed, "--seed")
    groups = _groups(run, n, seed, split, net, classes)
    terms = parse_terms(expression, groups.classes)
    result_label = _result_label(run, label, terms)
    hint = ("a larger --n or another class" if groups.space != "codings"
            else "a larger --n up to the split's size, another class or another split")
    means = group_means(groups.codes, groups.labels, terms, what=groups.grouping, hint=hint)
    scale = NEIGHBOUR_SCALE * groups.codes.std(0)
    points = neighbours(combine(means, terms), scale, N_RESULTS, seed)
    with torch.no_grad():
        decoded_means = torch.cat([groups.decode(m[None], t.index)
                                   for m, t in zip(means, terms)])
        results = groups.decode(points, result_label)
    members = [groups.images[groups.labels == t.index][:N_SHOWN] for t in terms]
    return Arithmetic(expression_text(terms), terms,
                      [int((groups.labels == t.index).sum()) for t in terms],
                      torch.stack(members).numpy(), decoded_means.numpy(), results.numpy(),
                      groups.space, groups.grouping)


def _result_label(run, label: int | None, terms) -> int | None:
    """The class the result is decoded with: None for unconditional models, `label` or the
    first term's class for conditional ones."""
    from latentforge.evaluation.capabilities import can
    from latentforge.tasks.generate import check_label

    if not can(run.model, "conditional"):
        if label is not None:
            check_label(run, label)  # raises: the model is not conditional
        return None
    if label is not None:
        check_label(run, label)
        return int(label)
    return terms[0].index


def _groups(run, n: int, seed: int, split: str, net, classes) -> _Groups:
    from latentforge.evaluation.capabilities import can, require

    require(run, "images", "arithmetic")
    require(run, "decode", "arithmetic")
    if can(run.model, "encode"):
        return _encoded(run, n, seed, split)
    require(run, "generate", "arithmetic")
    return _generated(run, n, seed, net, classes)


def _encoded(run, n: int, seed: int, split: str) -> _Groups:
    """`n` seeded items of `split`, their codings and true labels."""
    data = run.split(split)
    if data.y is None:
        raise DataError(f"arithmetic groups the {split} items by their labels, and the data "
                        f"source '{run.config.data.source}' has none.")
    idx = data.sample_indices(n, seed)
    x = data.batch(idx)
    codes = run.encode(x)
    classes = data.classes or [str(k) for k in range(int(data.y.max()) + 1)]
    model = run.model
    model.eval()
    return _Groups(codes, data.y[idx], x, list(classes), lambda z, _: model.decode(z),
                   "codings", f"{split} items")


def _generated(run, n: int, seed: int, net, classes) -> _Groups:
    """`n` seeded codes (z, or w for models with a style space), their images, and their
    classes (the generation labels of a conditional model, else the classifier's)."""
    import torch

    from latentforge.evaluation.capabilities import can

    model = run.model
    model.eval()
    conditional = can(model, "conditional")
    if not conditional:
        net, classes = _classifier(run, net, classes)
    z = torch.randn(n, model.coding_dim, generator=torch.Generator().manual_seed(seed))
    styles = can(model, "styles")
    with torch.no_grad():
        codes = torch.cat([model.mapping(b) for b in z.split(DECODE_BATCH)]) if styles else z
    decode = _decoder(model, styles, conditional)
    if conditional:
        labels = torch.arange(n) % int(model.cfg.n_classes)
        images = torch.cat([decode(c, lab) for c, lab in
                            zip(codes.split(DECODE_BATCH), labels.split(DECODE_BATCH))])
        return _Groups(codes, labels, images, _run_classes(run), decode,
                       "w" if styles else "z", "generated samples")
    with torch.no_grad():
        images = torch.cat([decode(c, None) for c in codes.split(DECODE_BATCH)])
    labels, names = _classify(images, net, classes)
    return _Groups(codes, labels, images, names, decode, "w" if styles else "z",
                   "samples classified by the feature network")


def _decoder(model, styles: bool, conditional: bool) -> Callable:
    """decode(codes, label) -> images: for style spaces `generation.styles.decode_styles`
    (the same noise maps for every image, so images differ only by their w), else
    decode(z, labels); `label` (an int or a (B,) tensor) is used by conditional models
    only."""
    import torch

    from latentforge.generation.styles import decode_styles

    def decode(codes, label):
        with torch.no_grad():
            if styles:
                return decode_styles(model, codes)
            if label is None or not conditional:
                return model.decode(codes).float().cpu()
            return model.decode(codes, torch.as_tensor(label).expand(len(codes))).float().cpu()
    return decode


def _run_classes(run) -> list[str]:
    """The run's class names (its training data's), or "0".."K-1"."""
    k = int(run.model.cfg.n_classes)
    names = run.split("train").classes
    return list(names) if names and len(names) == k else [str(i) for i in range(k)]


def _classifier(run, net, classes):
    """The classifier of an unconditional generator's samples and its class names:
    `net` (a module, or a feature network's path: its metadata's classes, its input shape
    checked) and `classes` (None: "0".."K-1"), or the shipped Fashion-MNIST CNN, which
    takes (1, 28, 28) images (DataError for other shapes)."""
    from latentforge.evaluation import featurenet

    if isinstance(net, (str, Path)):
        net = featurenet.load_feature_net(net)
        classes = classes or net.metadata.get("classes")
        shape, wanted = featurenet.input_shape_of(net), tuple(run.model.sample_shape)
        if shape is not None and shape != wanted:
            raise DataError(f"The feature network takes {shape} images and '{run.path}' "
                            f"makes {wanted} images; train one on the run's data with "
                            "'latentforge featurenet train --data SRC'.")
    if net is not None:
        return net, classes
    shape = tuple(run.model.sample_shape)
    if shape != featurenet.INPUT_SHAPE:
        raise DataError(f"arithmetic groups an unconditional generator's samples by the "
                        f"shipped Fashion-MNIST classifier, which takes "
                        f"{featurenet.INPUT_SHAPE} images; '{run.path}' makes {shape} "
                        "images. Pass --feature-net FILE (from 'latentforge featurenet "
                        "train --data SRC'), or train a conditional model (--set "
                        "model.conditional=true) to group by labels.")
    from latentforge.data import FASHION_CLASSES

    return featurenet.load_feature_net(), list(FASHION_CLASSES)


def _classify(images, net, classes):
    """The classes `net` predicts for the images (N,), and the class names (`classes`, or
    "0".."K-1" for a net with K outputs)."""
    from latentforge.evaluation import featurenet

    logits = featurenet.class_logits(net, images)
    return logits.argmax(dim=1), list(classes or [str(k) for k in range(logits.shape[1])])


def arithmetic_png(result: Arithmetic, out: str | Path) -> Path:
    """Write the figure (`viz.arithmetic.arithmetic_figure`) to `out` (.png)."""
    from latentforge.viz.arithmetic import arithmetic_figure
    from latentforge.viz.figures import png_path, save_figure

    path = png_path(out)
    names = [("- " if t.sign < 0 else "") + t.name + f" ({c})"
             for t, c in zip(result.terms, result.counts)]
    return save_figure(arithmetic_figure(result.members, result.means, result.results,
                                         names, f"{result.expression}  ({result.space})"),
                       path)
