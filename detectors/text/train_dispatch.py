"""The dispatch model's design (training only): roles, (reason | category) × district tables, place.

* **Roles.** Many departments are one role per district ("Администрация Невского района", "…Кировского
  района"). The model is fitted on roles — the text that says "the HOA refuses" means the administration
  in every district — and expanded back to departments: a role's score goes to its department in the
  case's district, the others of that role are pushed down by :data:`OTHER_DISTRICT`.
* **Tables.** (reason × district) and (category × district) one-hots, with the out-of-fold reason and
  category in training (what the classifier will really give), the query's at run time. The reason
  columns carry the classifier's :data:`REASON_TOP` most probable reasons, weighted by their
  probabilities (renormalised), so a doubt between two reasons reaches the dispatch model.
* **Repeated petitions.** One column, set for a citizen's second or later petition on a problem: in the
  SPb history 89 % of those (first petitions: 19 %) were answered by a district administration.
* **Place.** :mod:`detectors.text.spatial` features over :data:`SCALES`, counted per role; training rows
  get them from the history outside their own time fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix, hstack

from config.models import CityConfig
from detectors.text.spatial import Scale

__all__ = [
    "OTHER_DISTRICT",
    "REASON_TOP",
    "SCALES",
    "SPATIAL_FOLDS",
    "Roles",
    "department_roles",
    "department_scores",
    "dispatch_matrix",
]

# Building (same 10 m cell), building and category, block (50 m cells and their ring), quarter (150 m).
SCALES = (Scale(10.0, 0, False), Scale(10.0, 0, True), Scale(50.0, 1, False), Scale(150.0, 1, False))
SPATIAL_FOLDS = 10
OTHER_DISTRICT = 5.0  # score penalty (SVM margin units) for a district role's department of another district
REASON_TOP = 3  # SPb time split: 3 reasons rather than 1 lift coverage at precision 0.90 (see the model card)


@dataclass(frozen=True)
class Roles:
    """Role per department (index into ``names``) and its home district index (``-1``: not district-bound)."""

    names: list[str]
    of: np.ndarray
    home: np.ndarray


def department_roles(city: CityConfig, departments: list[str]) -> Roles:
    """Departments whose name contains a district's name (any ending) share a role with that word taken out."""
    stems = sorted(
        ((d.name.lower()[:-2], i) for i, d in enumerate(city.districts) if len(d.name) >= 6), key=lambda s: -len(s[0])
    )
    name = {d.id: d.name for d in city.departments}
    templates, homes = [], []
    for dep in departments:
        words, home = name.get(dep, dep).split(), -1
        for k, word in enumerate(words):
            bare = word.lower().strip("()«»\"'")
            found = next((i for stem, i in stems if bare.startswith(stem)), -1)
            if found >= 0:
                words[k], home = "{district}", found
                break
        templates.append(" ".join(words) if home >= 0 else dep)
        homes.append(home)
    names = sorted(set(templates))
    return Roles(names, np.array([names.index(t) for t in templates]), np.array(homes))


def department_scores(role_scores: np.ndarray, districts: np.ndarray, roles: Roles, n_districts: int) -> np.ndarray:
    """``(n, n_departments)`` from role scores: a district role counts for its department of the case's district."""
    out = role_scores[:, roles.of].copy()
    known = districts < n_districts
    other = (roles.home[None, :] >= 0) & (roles.home[None, :] != districts[:, None]) & known[:, None]
    return out - OTHER_DISTRICT * other


def _onehot(index: np.ndarray, width: int, weight: np.ndarray | None = None) -> csr_matrix:
    """Rows with a 1 (or ``weight``) at ``index``; a 2-d ``index`` puts several weighted entries in a row."""
    index = index.reshape(len(index), -1)
    value = np.ones(index.shape, np.float32) if weight is None else weight.reshape(index.shape)
    rows = np.repeat(np.arange(len(index)), index.shape[1])
    return csr_matrix((value.ravel(), (rows, index.ravel())), shape=(len(index), width))


def dispatch_matrix(
    x_text: csr_matrix, reasons: np.ndarray, categories: np.ndarray, districts: np.ndarray, n_reasons: int,
    n_categories: int, n_districts: int, spatial: np.ndarray, reason_weights: np.ndarray | None = None,
    repeat: np.ndarray | None = None,
) -> tuple[csr_matrix, list[int]]:  # fmt: skip
    """Rows ``[text | reason×district | category×district | reason | category | district | place | repeat]``.

    :param reasons: reason index per row (``n_reasons``: unknown), or ``(n, k)`` indices weighted by
        ``reason_weights``; ``categories`` and ``districts``: one index per row (the last: unknown)
    :param repeat: per row, whether it is a repeated petition (``None``: none is)
    :returns: the matrix and the widths of its blocks
    """
    nr, nc, nd = n_reasons + 1, n_categories + 1, n_districts + 1
    reasons = reasons.reshape(len(reasons), -1)
    blocks = [
        x_text,
        _onehot(reasons * nd + districts[:, None], nr * nd, reason_weights),
        _onehot(categories * nd + districts, nc * nd),
        _onehot(reasons, nr, reason_weights),
        _onehot(categories, nc),
        _onehot(districts, nd),
        csr_matrix(spatial.astype(np.float32)),
        csr_matrix((np.zeros(len(districts)) if repeat is None else repeat).astype(np.float32)[:, None]),
    ]
    return hstack(blocks).tocsr(), [b.shape[1] for b in blocks]
