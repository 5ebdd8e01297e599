"""Train a city's complaint models from its history (needs scikit-learn, a dev dependency).

Stages, all on rows ordered by time:

1. calibration fit: vectorisers and one linear SVM per taxonomy level on the
   earlier 85 %; on the later 15 %: temperatures, level mixing and the maps from
   probability to observed accuracy (reported confidence);
2. final fit of the same on all training rows;
3. out-of-fold reasons (contiguous time folds), so the dispatch model learns
   from the reasons the classifier will really give it;
4. dispatch model (:mod:`detectors.text.train_dispatch`: roles, tables, place, repeated petitions)
   fitted on the earlier 85 %, calibrated on the later 15 % — whose spatial
   features come from the earlier rows only — where the auto-dispatch threshold
   is chosen so that the 95 % lower bound of the precision reaches the target;
   then refitted on all rows; with the
   city's ``routing.history_half_life_days``, older rows weigh less in both fits;
5. gazetteer and district grid from the rows' addresses and coordinates.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from config.loader import city_dir
from config.models import CityConfig
from detectors.text.artifacts import Bundle
from detectors.text.classifier import LinearHead, TaxonomyClassifier, field_levels, log_softmax, softmax
from detectors.text.datasets import LabeledComplaint
from detectors.text.export import text_features_from_sklearn
from detectors.text.geocode import DistrictGrid, Gazetteer
from detectors.text.metrics import (
    choose_threshold,
    curve_points,
    expected_calibration_error,
    fit_confidence_map,
    fit_temperature,
    wilson_lower,
)
from detectors.text.redact import redact
from detectors.text.routing import DispatchModel, RouteQuery, match_rule, top_reasons
from detectors.text.spatial import SpatialPrior, held_out_features
from detectors.text.train_dispatch import (
    OTHER_DISTRICT,
    REASON_TOP,
    SCALES,
    SPATIAL_FOLDS,
    department_roles,
    department_scores,
    dispatch_matrix,
)

__all__ = ["Design", "Progress", "TrainSettings", "fit_linear", "settings_for", "train_models", "write_threshold"]

Progress = Callable[[str], None]
_MIXES = (0.0, 0.25, 0.5, 0.7, 0.85, 1.0)


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters (chosen on the SPb time split; see the model card)."""

    word_min_df: int = 3
    char_range: tuple[int, int] = (3, 4)
    char_min_df: int = 3
    address_weight: float = 0.5
    taxonomy_c: float = 0.5
    dispatch_c: float = 0.1
    calibration_share: float = 0.15
    folds: int = 3


def settings_for(city: CityConfig) -> TrainSettings:
    """Defaults for ``city``: Chinese/Japanese/Korean text has no spaces, so shorter character n-grams.

    (On the 495 labelled Chinese messages, later-in-time test: char 2-3 grams 0.72 accuracy, 3-4 grams 0.56.)
    """
    languages = city.city.languages
    if languages and languages[0] in {"zh", "ja", "ko"}:
        return TrainSettings(char_range=(2, 3))
    return TrainSettings()


class Design:
    """The scikit-learn vectorisers whose output the numpy runtime reproduces (word | char | has_address)."""

    def __init__(self, texts: Sequence[str], s: TrainSettings) -> None:
        min_df = (s.word_min_df, s.char_min_df) if len(texts) > 2000 else (2, 2)  # small data: keep more terms
        self.settings = s
        self.word = TfidfVectorizer(ngram_range=(1, 2), min_df=min_df[0], sublinear_tf=True, dtype=np.float32)
        self.char = TfidfVectorizer(
            analyzer="char_wb", ngram_range=s.char_range, min_df=min_df[1], sublinear_tf=True, dtype=np.float32
        )
        self.word.fit(texts)
        self.char.fit(texts)

    def matrix(self, texts: Sequence[str], has_address: Sequence[bool] | np.ndarray | None = None) -> csr_matrix:
        """Feature rows as scikit-learn computes them (the runtime must reproduce these exactly)."""
        meta = np.zeros((len(texts), 1), dtype=np.float32)
        if has_address is not None:
            meta[:, 0] = np.asarray(has_address, dtype=np.float32) * self.settings.address_weight
        return hstack([self.word.transform(texts), self.char.transform(texts), csr_matrix(meta)]).tocsr()


def fit_linear(
    x: csr_matrix, y: np.ndarray, n_classes: int, c: float, sample_weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest linear SVM as ``(weights (n_features, n_classes), bias)``; classes are ``0..n_classes-1``."""
    weights = np.zeros((x.shape[1], n_classes), dtype=np.float32)
    bias = np.full(n_classes, -1e3, dtype=np.float32)  # classes absent from training are never chosen
    present = np.unique(y)
    if len(present) == 1:
        bias[present[0]] = 0.0
        return weights, bias
    svm = LinearSVC(C=c, random_state=0).fit(x, y, sample_weight=sample_weight)
    if len(present) == 2:  # binary SVM: one score, for the second class
        bias[present] = (0.0, svm.intercept_[0])
        weights[:, present[1]] = svm.coef_[0]
    else:
        weights[:, svm.classes_] = svm.coef_.T
        bias[svm.classes_] = svm.intercept_
    return weights, bias


def _pad(weights: np.ndarray) -> np.ndarray:
    return np.vstack([weights, np.zeros((1, weights.shape[1]), np.float32)])


class _Trainer:
    """One training run: the rows (oldest first) with their labels as indices, and the stages over them."""

    def __init__(self, city: CityConfig, rows: Sequence[LabeledComplaint], s: TrainSettings, say: Progress) -> None:
        self.city, self.s, self.say = city, s, say
        self.rows = [r for r in rows if r.text.strip()]
        # Levels the history labels (top first): the Chinese sample labels level 1 of three only.
        depth = max((len(r.levels) for r in self.rows), default=0)
        self.levels = city.taxonomy.levels[: max(1, min(depth, len(city.taxonomy.levels)))]
        self.texts = [redact(r.text).text for r in self.rows]
        self.has_address = np.array([bool(r.address.strip()) for r in self.rows])
        self.repeat = np.array([r.petition > 1 for r in self.rows])
        self.lat = np.array([np.nan if r.lat is None else r.lat for r in self.rows], dtype=np.float64)
        self.lon = np.array([np.nan if r.lon is None else r.lon for r in self.rows], dtype=np.float64)
        self.days = np.array([r.created.timestamp() / 86400.0 for r in self.rows])
        self.labels = {lv: sorted({r.levels[i] for r in self.rows if r.levels[i]}) for i, lv in enumerate(self.levels)}
        self.index = {lv: {label: k for k, label in enumerate(self.labels[lv])} for lv in self.levels}
        self.y = {
            lv: np.array([self.index[lv].get(r.levels[i], -1) for r in self.rows]) for i, lv in enumerate(self.levels)
        }
        self.n_fit = len(self.rows) - int(len(self.rows) * s.calibration_share)
        self.finest, self.case = self.levels[-1], self.levels[field_levels(self.levels)["category"]]
        self.departments = sorted({r.department for r in self.rows if r.department})

    def marginals(self, upto: int) -> dict[str, np.ndarray]:
        """``P(level | reason)`` for every coarser level, counted on the first ``upto`` rows."""
        fine = self.y[self.finest][:upto]
        out = {}
        for lv in self.levels[:-1]:
            m = np.zeros((len(self.labels[self.finest]), len(self.labels[lv])), np.float64)
            both = (fine >= 0) & (self.y[lv][:upto] >= 0)
            np.add.at(m, (fine[both], self.y[lv][:upto][both]), 1.0)
            m[m.sum(1) == 0] = 1.0  # a reason never seen with this level: no preference
            out[lv] = (m / m.sum(1, keepdims=True)).astype(np.float32)
        return out

    def heads(self, x: csr_matrix, upto: int) -> dict[str, LinearHead]:
        """One linear SVM per taxonomy level on the first ``upto`` rows of ``x``."""
        out = {}
        for lv in self.levels:
            y = self.y[lv][:upto]
            known = y >= 0
            self.say(f"  {lv}: {len(self.labels[lv])} classes, {known.sum()} rows")
            w, b = fit_linear(x[:upto][known], y[known], len(self.labels[lv]), self.s.taxonomy_c)
            out[lv] = LinearHead(self.labels[lv], _pad(w), b)
        return out

    def calibrate(self) -> tuple[TaxonomyClassifier, dict[str, Any]]:
        """Temperatures, mixing and confidence maps from a fit on the earlier rows, judged on the later ones."""
        self.say(
            f"stage 1/5: calibration fit on the earlier {self.n_fit} rows, judged on {len(self.rows) - self.n_fit}"
        )
        design = Design(self.texts[: self.n_fit], self.s)
        heads = self.heads(design.matrix(self.texts[: self.n_fit], self.has_address[: self.n_fit]), self.n_fit)
        xc = design.matrix(self.texts[self.n_fit :], self.has_address[self.n_fit :])
        scores = {lv: xc @ h.weights[:-1] + h.bias for lv, h in heads.items()}
        marg = self.marginals(self.n_fit)
        truth = {lv: self.y[lv][self.n_fit :] for lv in self.levels}
        temps: dict[str, float] = {}
        mixes: dict[str, float] = {}
        known = truth[self.finest] >= 0
        temps[self.finest] = fit_temperature(scores[self.finest][known], truth[self.finest][known])
        p_fine = softmax(temps[self.finest] * scores[self.finest])
        for lv in self.levels[:-1]:
            k = truth[lv] >= 0
            summed, own = np.log(p_fine @ marg[lv] + 1e-9), log_softmax(scores[lv])
            accuracy = {m: float(np.mean((m * summed + (1 - m) * own)[k].argmax(1) == truth[lv][k])) for m in _MIXES}
            mixes[lv] = max(_MIXES, key=lambda m: (accuracy[m], m))
            temps[lv] = fit_temperature((mixes[lv] * summed + (1 - mixes[lv]) * own)[k], truth[lv][k])
        clf = TaxonomyClassifier(self.levels, heads, marg, temps, mixes)
        raw = clf.decode(clf.probabilities(scores))
        maps, report = {}, {}
        for lv in self.levels:
            k = truth[lv] >= 0
            correct = np.array([self.index[lv][x] for x in raw[lv].labels])[k] == truth[lv][k]
            maps[lv] = fit_confidence_map(raw[lv].confidence[k], correct)
            mapped = np.interp(raw[lv].confidence[k], *maps[lv])
            report[lv] = {
                "rows": int(k.sum()),
                "temperature": round(temps[lv], 4),
                "mix": mixes.get(lv, 1.0),
                "accuracy": round(float(correct.mean()), 4),
                "ece_probability": round(expected_calibration_error(raw[lv].confidence[k], correct), 4),
                "ece_reported_confidence": round(expected_calibration_error(mapped, correct), 4),
            }
            self.say(
                f"  {lv}: held-out accuracy {correct.mean():.3f}, T={temps[lv]:.2f}, mix={mixes.get(lv, 1.0)}, "
                f"ECE {report[lv]['ece_probability']:.3f} -> {report[lv]['ece_reported_confidence']:.3f}"
            )
        clf.confidence_maps = maps
        return clf, report

    def out_of_fold(self, x: csr_matrix, clf: TaxonomyClassifier) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reason and category each row gets from a model that never saw it (contiguous time folds).

        :returns: reason and category index per row, and the reason probabilities behind them
        """
        n, y = len(self.rows), self.y[self.finest]
        bounds = np.linspace(0, n, self.s.folds + 1).astype(int)
        reason, category = np.full(n, -1), np.full(n, -1)
        probs = np.zeros((n, len(self.labels[self.finest])), np.float32)
        t = clf.temperatures[self.finest]
        for k in range(self.s.folds):
            self.say(f"  fold {k + 1}/{self.s.folds}")
            held = np.zeros(n, bool)
            held[bounds[k] : bounds[k + 1]] = True
            train = ~held & (y >= 0)
            w, b = fit_linear(x[train], y[train], len(self.labels[self.finest]), self.s.taxonomy_c)
            probs[held] = softmax(t * (x[held] @ w + b))
            reason[held] = probs[held].argmax(1)
            category[held] = (probs[held] @ clf.marginals[self.case]).argmax(1)
        return reason, category, probs

    def recency(self, rows: np.ndarray) -> np.ndarray | None:
        """Sample weights of ``rows`` for the dispatch fit: halved per half-life of age before the newest."""
        half_life = self.city.routing.history_half_life_days
        if half_life is None:
            return None
        return np.exp2(-(self.days[rows].max() - self.days[rows]) / half_life)

    def _place(self, lo: int, hi: int, roles: np.ndarray, groups: np.ndarray, d: np.ndarray, nr: int) -> np.ndarray:
        """Spatial features of rows ``lo:hi``, each from the rows ``lo:hi`` outside its own time fold."""
        nd, part = len(self.city.districts), slice(lo, hi)
        return held_out_features(
            SCALES, self.lat[part], self.lon[part], roles[part], groups[part], d[part], nr, nd,
            self.city.city.center.lat, SPATIAL_FOLDS, len(self.labels[self.case]) + 1,
        )  # fmt: skip

    def _prior(self, hi: int, roles: np.ndarray, groups: np.ndarray, d: np.ndarray, nr: int) -> SpatialPrior:
        return SpatialPrior.count(
            SCALES, self.lat[:hi], self.lon[:hi], roles[:hi], groups[:hi], d[:hi], nr, len(self.city.districts),
            self.city.city.center.lat, n_groups=len(self.labels[self.case]) + 1,
        )  # fmt: skip

    def dispatch(self, design: Design, clf: TaxonomyClassifier) -> tuple[DispatchModel | None, dict[str, Any]]:
        """Dispatch model on (text, reason x district, category x district, place) and its threshold."""
        if len(self.departments) < 2 or self.finest == self.case:
            return None, {}
        self.say(f"stage 3/5: out-of-fold reasons for the dispatch model ({self.s.folds} folds)")
        reason, category, reason_probs = self.out_of_fold(design.matrix(self.texts, self.has_address), clf)
        top, weight = top_reasons(reason_probs, REASON_TOP)
        nr, nc, nd = len(self.labels[self.finest]), len(self.labels[self.case]), len(self.city.districts)
        r = np.where(reason >= 0, reason, nr)
        c = np.where(category >= 0, category, nc)
        district_index = {d.id: i for i, d in enumerate(self.city.districts)}
        d = np.array([district_index.get(row.district, nd) for row in self.rows])
        department_index = {dep: k for k, dep in enumerate(self.departments)}
        y = np.array([department_index.get(row.department, -1) for row in self.rows])
        roles = department_roles(self.city, self.departments)
        y_role = np.where(y >= 0, roles.of[np.maximum(y, 0)], -1)
        n_roles = len(roles.names)
        target = self.city.routing.auto_dispatch.target_precision
        self.say(
            f"stage 4/5: dispatch model, {len(self.departments)} departments in {n_roles} roles, "
            f"threshold for precision {target:.2f}"
        )
        index = np.arange(len(self.rows))
        early, late = (index < self.n_fit) & (y >= 0), (index >= self.n_fit) & (y >= 0)
        # Calibration fit: the later rows see only the earlier rows' history, as the product sees its past.
        place = np.vstack(
            [
                self._place(0, self.n_fit, y_role, c, d, n_roles),
                self._prior(self.n_fit, y_role, c, d, n_roles).features(
                    self.lat[self.n_fit :], self.lon[self.n_fit :], c[self.n_fit :], d[self.n_fit :]
                ),
            ]
        )
        x_text = design.matrix(self.texts)
        x, _ = dispatch_matrix(x_text, top, c, d, nr, nc, nd, place, weight, self.repeat)
        w, b = fit_linear(x[early], y_role[early], n_roles, self.s.dispatch_c, self.recency(early))
        scores = department_scores(x[late] @ w + b, d[late], roles, nd)
        temperature = fit_temperature(scores, y[late])
        probs = softmax(temperature * scores)
        correct = probs.argmax(1) == y[late]
        conf_map = fit_confidence_map(probs.max(1), correct)
        # Cases a routing rule takes never reach the model; the threshold is chosen without them.
        ruled = np.array([self.ruled(int(i), int(r[i]), int(c[i])) for i in np.flatnonzero(late)], dtype=np.bool_)
        conf, correct = np.interp(probs.max(1), *conf_map)[~ruled], correct[~ruled]
        threshold = choose_threshold(conf, correct, target)
        auto = conf >= threshold
        info = {
            "threshold": round(threshold, 4),
            "target_precision": target,
            "held_out_rows": len(conf),
            "held_out_auto_rate": round(float(auto.mean()), 4),
            "held_out_auto_precision": round(float(correct[auto].mean()) if auto.any() else 0.0, 4),
            "held_out_auto_precision_lower_95": round(float(wilson_lower(correct[auto].sum(), auto.sum())[()]), 4),
            "held_out_accuracy_all": round(float(correct.mean()), 4),
            "curve": curve_points(conf, correct),
            "roles": n_roles,
            "repeated_petitions": int(self.repeat[y >= 0].sum()),
            "spatial_scales": [asdict(sc) for sc in SCALES],
        }
        self.say(
            f"  threshold {threshold:.3f}: auto {auto.mean():.1%} at precision "
            f"{info['held_out_auto_precision']:.3f} (held-out, {len(conf)} rows)"
        )
        n = len(self.rows)
        place = self._place(0, n, y_role, c, d, n_roles)
        x, widths = dispatch_matrix(x_text, top, c, d, nr, nc, nd, place, weight, self.repeat)
        known = y >= 0
        w, b = fit_linear(x[known], y_role[known], n_roles, self.s.dispatch_c, self.recency(known))
        parts = (part[:, roles.of] for part in np.split(w, np.cumsum(widths)[:-1]))
        text_w, rd, cd, wr, wc, wd, wp, repeat_w = parts
        e = len(self.departments)
        reason_district = rd.reshape(nr + 1, nd + 1, e) + wr[:, None, :] + wd[None, :, :]
        other = (roles.home[None, :] >= 0) & (roles.home[None, :] != np.arange(nd)[:, None])
        reason_district[:, :nd, :] -= OTHER_DISTRICT * other[None, :, :]
        model = DispatchModel(
            labels=self.departments,
            text_weights=_pad(text_w),
            bias=b[roles.of],
            reason_district=reason_district,
            category_district=cd.reshape(nc + 1, nd + 1, e) + wc[:, None, :],
            reasons=self.labels[self.finest],
            reason_head=self.finest,
            reason_temperature=clf.temperatures[self.finest],
            reason_top=top.shape[1],
            categories=self.labels[self.case],
            districts=[dd.id for dd in self.city.districts],
            temperature=temperature,
            confidence_map=conf_map,
            spatial=self._prior(n, y_role, c, d, n_roles),
            spatial_weights=wp,
            repeat_weights=repeat_w[0] if self.repeat[known].any() else None,
        )
        return model, info

    def ruled(self, row: int, reason: int, category: int) -> bool:
        """Would a routing rule take this row, given its predicted reason and category (indices)?"""
        reason_id = self.labels[self.finest][reason] if reason < len(self.labels[self.finest]) else ""
        category_id = self.labels[self.case][category] if category < len(self.labels[self.case]) else ""
        query = RouteQuery(
            self.city.kind_for(reason_id, category_id), category_id, reason_id, self.rows[row].district, ""
        )
        return match_rule(self.city.routing.rules, query, {}, {reason_id, category_id}) is not None

    def geography(self) -> tuple[Gazetteer, DistrictGrid]:
        """Gazetteer of addresses seen with coordinates, and the grid of districts over all points."""
        self.say("stage 5/5: gazetteer and district grid")
        placed = [(r, r.lat, r.lon) for r in self.rows if r.lat is not None and r.lon is not None]
        addressed = [(r.address, lat, lon) for r, lat, lon in placed if r.address]
        gazetteer = Gazetteer.build(
            [a for a, _, _ in addressed], [lat for _, lat, _ in addressed], [lon for _, _, lon in addressed]
        )
        grid = DistrictGrid.build(
            [d.id for d in self.city.districts],
            np.array([lat for _, lat, _ in placed], float),
            np.array([lon for _, _, lon in placed], float),
            [r.district for r, _, _ in placed],
        )
        return gazetteer, grid


def train_models(
    city: CityConfig,
    rows: Sequence[LabeledComplaint],
    settings: TrainSettings | None = None,
    progress: Progress = print,
) -> Bundle:
    """Fit every artifact of ``city`` on ``rows`` (oldest first) and return it, ready to save."""
    s = settings or settings_for(city)
    started = time.monotonic()
    t = _Trainer(city, rows, s, progress)
    calibrated, calibration = t.calibrate()
    progress(f"stage 2/5: final fit on all {len(t.rows)} rows")
    design = Design(t.texts, s)
    heads = t.heads(design.matrix(t.texts, t.has_address), len(t.rows))
    classifier = TaxonomyClassifier(
        t.levels, heads, t.marginals(len(t.rows)), calibrated.temperatures, calibrated.mix, calibrated.confidence_maps
    )
    dispatch, dispatch_info = t.dispatch(design, classifier)
    gazetteer, grid = t.geography()
    info = {
        "city": city.city.id,
        "trained_rows": len(t.rows),
        "trained_from": t.rows[0].created.isoformat(timespec="seconds"),
        "trained_to": t.rows[-1].created.isoformat(),
        "settings": asdict(s),
        "calibration": calibration,
        "dispatch": dispatch_info,
        "gazetteer_addresses": len(gazetteer.keys),
        "grid_cells": len(grid.cell_keys),
        "train_seconds": round(time.monotonic() - started, 1),
    }
    progress(f"done in {info['train_seconds']:.0f} s: {len(gazetteer.keys)} addresses, {len(grid.cell_keys)} cells")
    features = text_features_from_sklearn(design.word, design.char, s.address_weight)
    return Bundle(features, classifier, dispatch, gazetteer, grid, info)


def write_threshold(city: str, threshold: float) -> Path:
    """Record the chosen auto-dispatch threshold in the city's ``routing.yaml``, keeping its comments."""
    path = city_dir(city) / "routing.yaml"
    text = path.read_text(encoding="utf-8")
    updated, n = re.subn(
        r"(auto_dispatch:\s*\n(?:[ \t]+\w+:.*\n)*?[ \t]+threshold:[ \t]*)[0-9.eE+-]+",
        lambda m: f"{m.group(1)}{threshold:.4f}",
        text,
    )
    if n != 1:
        raise ValueError(f"{path}: found no routing.auto_dispatch.threshold to update")
    path.write_text(updated, encoding="utf-8")
    return path
