"""Latent vector arithmetic (Radford et al. 2016, the DCGAN paper's figure 7; the book's
chapter 17): the mean coding of each group of images, a signed sum of those means
("sneaker - ankle boot + sandal"), and points around the result.

Pure tensor functions: the expression's parsing (names or class indices joined by
standalone "+" / "-"), the class lookup, group means and the signed sum, and seeded
neighbours. Where the codings come from (a generator's z or w, an encoder's codings) is
`tasks/arithmetic.py`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from latentforge.errors import ConfigError, DataError

OPERATORS = {"+": 1, "-": -1}
MIN_MEMBERS = 5  # a group mean over fewer codings is mostly noise
NEIGHBOUR_SCALE = 0.25  # neighbours' noise, in units of each dimension's std (z: about 0.25)


@dataclass(frozen=True)
class Term:
    """One signed term of an expression: sign +1 or -1, class index, class name."""

    sign: int
    index: int
    name: str


def split_expression(tokens) -> list[tuple[int, str]]:
    """["sneaker", "-", "ankle boot", "+", "sandal"] -> [(1, "sneaker"), (-1, "ankle
    boot"), (1, "sandal")]. Operators are standalone "+" / "-" tokens (so "T-shirt/top"
    stays one name); adjacent name tokens join with a space (unquoted `ankle boot`). A
    leading operator is allowed; two operators in a row, a trailing one or no name raise
    ConfigError."""
    terms, sign, words, operator_seen = [], 1, [], False
    text = " ".join(map(str, tokens))
    for token in (str(t).strip() for t in tokens):
        if token in OPERATORS:
            if not words and (terms or operator_seen):
                raise ConfigError(f"Expected a class name before '{token}' in '{text}'")
            if words:
                terms.append((sign, " ".join(words)))
            sign, words, operator_seen = OPERATORS[token], [], True
        elif token:
            words.append(token)
    if not words:
        raise ConfigError(f"The expression '{text}' must end in a class name, e.g. "
                          'sneaker - "ankle boot" + sandal')
    return [*terms, (sign, " ".join(words))]


def _norm(name) -> str:
    """Loose name: lower case, letters and digits only ("Ankle boot" = "ankle-boot")."""
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def resolve_class(name: str, classes) -> int:
    """The index of `name` among `classes` (the K class names): an index "0".."K-1", a
    name compared loosely (case, spaces and punctuation ignored: "ankle boot" = "Ankle
    boot"), or the unique class whose loose name starts with it ("t-shirt" = "T-shirt/top").
    ConfigError naming the classes otherwise."""
    classes = [str(c) for c in classes]
    text = str(name).strip()
    if text.isdigit():
        if int(text) < len(classes):
            return int(text)
        raise ConfigError(f"Class index {text} is out of range [0, {len(classes) - 1}]")
    key = _norm(text)
    exact = [i for i, c in enumerate(classes) if _norm(c) == key]
    prefix = [i for i, c in enumerate(classes) if key and _norm(c).startswith(key)]
    found = exact or prefix
    if len(found) == 1:
        return found[0]
    what = "matches several classes" if found else "is not a class"
    raise ConfigError(f"'{name}' {what}; classes: {', '.join(classes)} (or their indices "
                      f"0-{len(classes) - 1})")


def parse_terms(tokens, classes) -> list[Term]:
    """`split_expression` with each name resolved against `classes`."""
    indices = [(sign, resolve_class(name, classes)) for sign, name in split_expression(tokens)]
    return [Term(sign, i, str(classes[i])) for sign, i in indices]


def expression_text(terms: list[Term]) -> str:
    """[Term(1, 7, "Sneaker"), Term(-1, 9, "Ankle boot")] -> "Sneaker - Ankle boot"."""
    parts = [("- " if t.sign < 0 else "+ ") + t.name for t in terms]
    first = parts[0][2:] if terms[0].sign > 0 else "-" + parts[0][2:]
    return " ".join([first, *parts[1:]])


def group_means(codes: Tensor, labels: Tensor, terms: list[Term],
                min_members: int = MIN_MEMBERS, what: str = "codings",
                hint: str = "use more codings or another class") -> Tensor:
    """The mean coding of each term's class: codes (N, ...), labels (N,) -> (T, ...).
    A class with fewer than `min_members` codings raises DataError naming it, its count
    and `hint`."""
    means = []
    for term in terms:
        mask = labels == term.index
        count = int(mask.sum())
        if count < min_members:
            raise DataError(f"Only {count} of {len(labels)} {what} are of class "
                            f"'{term.name}'; a group mean needs at least {min_members} "
                            f"({hint})")
        means.append(codes[mask].mean(0))
    return torch.stack(means)


def combine(means: Tensor, terms: list[Term]) -> Tensor:
    """The signed sum of the group means (T, ...) -> (...): e.g. A - B + C."""
    signs = torch.tensor([t.sign for t in terms], dtype=means.dtype, device=means.device)
    return (signs.reshape(-1, *[1] * (means.dim() - 1)) * means).sum(0)


def neighbours(point: Tensor, scale: Tensor | float, n: int, seed: int = 0) -> Tensor:
    """`point` (...) followed by n - 1 points around it: point + scale * eps, eps ~ N(0, I)
    from a private generator seeded with `seed` -> (n, ...). `scale` broadcasts against
    the point (e.g. 0.25 x each dimension's std)."""
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn(n - 1, *point.shape, generator=gen).to(point.device, point.dtype)
    return torch.cat([point.unsqueeze(0), point + torch.as_tensor(scale).to(point) * eps])
