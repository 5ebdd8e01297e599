"""Write ``onnx_models/complaints-<city>.md``: data, classes, held-out metrics and how to rebuild."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from config.models import CityConfig

__all__ = ["format_report", "history_profile", "shown_path", "write_card"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shown_path(path: Path) -> str:
    """``path`` relative to the repository root when it is near it (``../shared/...``), else as given."""
    root = Path(__file__).resolve().parents[2]
    try:
        return os.path.relpath(path.resolve(), root) if path.resolve().is_relative_to(root.parent) else str(path)
    except ValueError:
        return str(path)


def history_profile(rows: Sequence[Any]) -> str:
    """What the history allowed the models to learn: free text or categories only, and its languages.

    A history whose texts are little more than its labels (distinct texts at most twice the distinct
    label paths, or under five words on average) lets the classifier read categories, not complaints.
    """
    from detectors.text.language import UNDETERMINED, detect_languages

    texts = [r.text for r in rows if r.text]
    if not texts:
        return "What the history allowed: no text at all; the models learn from places and categories only."
    paths = {r.levels for r in rows}
    words = sum(len(t.split()) for t in texts) / len(texts)
    free = len(set(texts)) > 2 * len(paths) and words >= 5
    sample = texts[:: max(1, len(texts) // 5000)]
    counts = Counter(lang for lang in detect_languages(sample) if lang != UNDETERMINED)
    shares = ", ".join(f"{lang} {n / len(sample):.0%}" for lang, n in counts.most_common() if n >= 0.01 * len(sample))
    kind = ("free text" if free else "categories only (the texts are little more than the labels)")
    return (f"What the history allowed: {kind} — {len(texts)} texts, {len(set(texts))} distinct, "
            f"{words:.1f} words on average, {len(paths)} label paths. Languages found (sample of {len(sample)}): "
            f"{shares or 'none detected'}. The classifier is trained on these texts as written, in every language "
            "they hold.")


def _scales(d: dict[str, Any]) -> str:
    scales = d.get("spatial_scales") or []
    if not scales:
        return "(none)"
    return ", ".join(
        f"{sc['cell_m']:g} m"
        + (f" ± {sc['ring']} cell" if sc["ring"] else "")
        + (" per category" if sc["by_group"] else "")
        for sc in scales
    )


def _reasons(d: dict[str, Any]) -> str:
    k = d.get("reason_top", 1)
    return f"; read for the classifier's {k} most probable reasons, weighted by probability" if k > 1 else ""


def _repeats(d: dict[str, Any]) -> tuple[str, str]:
    """The repeat column's mention in the feature list, and its note (empty: the history has no repeats)."""
    n = d.get("repeated_petitions", 0)
    if not n:
        return "", ""
    return (
        " whether the appeal is a repeated petition,",
        f"\n  Repeated petitions (a citizen's second or later appeal on the same problem; {n} in training)"
        "\n  are one column; the product routes them, and cases reopened after their fix, as repeats.",
    )


def _recency(city: CityConfig) -> str:
    half_life = city.routing.history_half_life_days
    if not half_life:
        return ""
    return f"\n  Older appeals weigh less in the fit: half-life {half_life:g} days before the newest."


def _dispatch_tables(d: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "| auto-dispatch rate | department accuracy on auto-dispatched | model accuracy on all | "
        "coverage at precision 0.90 | decisions by source |",
        "|---|---|---|---|---|",
        f"| {d['auto_rate']:.4f} | {d['auto_accuracy']:.4f} | {d.get('model_accuracy_all', 0):.4f} | "
        f"{d.get('coverage_at_precision_0.90', 0):.4f} | {d['by_source']} |",
    ]
    if d.get("curve"):
        lines += [
            "",
            "Trade-off (model only, most confident first):",
            "",
            "| share dispatched automatically | precision | confidence threshold |",
            "|---|---|---|",
        ]
        lines += [f"| {p['coverage']:.1f} | {p['precision']:.4f} | {p['threshold']:.4f} |" for p in d["curve"]]
    return lines


def format_report(report: dict[str, Any]) -> str:
    """The evaluation as Markdown tables (also printed by ``cityops eval dispatch``)."""
    artifacts = shown_path(Path(report["artifacts"]))
    lines = [
        f"Rows {report['rows']} from {report['from']} to {report['to']}; artifacts `{artifacts}` trained on "
        f"{report['trained_on']['trained_rows']} rows {report['trained_on']['trained_from']} → "
        f"{report['trained_on']['trained_to']}{' — IN-SAMPLE' if report.get('in_sample') else ''}.",
        "",
        "| level | taxonomy level | classes (in test) | rows | accuracy | macro-F1 |",
        "|---|---|---|---|---|---|",
    ]
    for name, lv in report["levels"].items():
        lines.append(
            f"| {name} | {lv['level']} | {lv['classes']} | {lv['rows']} | {lv['accuracy']:.4f} | {lv['macro_f1']:.4f} |"
        )
    d = report["dispatch"]
    lines += [
        "",
        f"Dispatch (rows with a known department: {d['rows_with_department']}; threshold {d['threshold']:.4f}):",
    ]
    if not d["rows_with_department"]:
        lines += ["", "no departments in this data: dispatch not evaluated."]
    else:
        lines += _dispatch_tables(d)
    t, g = report["throughput"], report["geocoding"]
    lines += [
        "",
        f"Throughput ({t['includes']}): **{t['batched_items_per_s']:.0f} items/s** in batches of {t['batch_size']}, "
        f"**{t['one_at_a_time_items_per_s']:.0f} items/s** one at a time (one process on this machine).",
        "",
        f"Placement of the test reports as given: {report['placement']}. With coordinates hidden, "
        f"{g['address_only_rows']} reports with an address were placed {g['address_only_precision']} "
        f"(median error {g['address_error_m_median']} m, 90th percentile {g['address_error_m_p90']} m, district right "
        f"{g['address_district_accuracy']:.4f}); point → district accuracy {g['point_to_district_accuracy']:.4f} "
        f"on {g['point_to_district_rows']} points.",
        "",
        f"Languages detected: {report['languages']}.",
    ]
    return "\n".join(lines)


def write_card(
    path: Path,
    city: CityConfig,
    data: Path,
    shipped: dict[str, Any],
    split_info: dict[str, Any],
    report: dict[str, Any],
    command: str,
    notes: str = "",
) -> Path:
    """Markdown model card for the shipped artifacts, with the numbers of the time-split variant."""
    npz = path.with_suffix(".npz")
    levels = shipped["levels"]
    label_of = {n.id: n.label for n in city.taxonomy.nodes}
    classes = "\n".join(
        f"- `{lv['name']}`: {len(lv['labels'])} classes, e.g. "
        + ", ".join(f"`{x}` ({label_of.get(x, x)})" for x in lv["labels"][:4])
        for lv in levels
    )
    calib = "\n".join(
        f"| {name} | {c['temperature']} | {c['mix']} | {c['accuracy']} | {c['ece_probability']} | "
        f"{c['ece_reported_confidence']} |"
        for name, c in split_info["calibration"].items()
    )
    d = shipped.get("dispatch") or {}
    sizes = ", ".join(
        f"`{p.name}` {p.stat().st_size / 1e6:.2f} MB" for p in (npz, path.with_suffix(".json")) if p.exists()
    )
    repeat_feature, repeat_note = _repeats(d)
    dispatch_bullet = (
        f"""- Dispatch: one linear SVM over *roles* (departments that exist once per district, e.g. the district
  administrations, share one role; {d.get("roles", "?")} roles), expanded back to departments by the case's
  district, on the text, the (reason × district) and (category × district) tables (out-of-fold reasons in
  training{_reasons(d)}),{repeat_feature} and place.{repeat_note}{_recency(city)}
  Place: for grids of
  {_scales(d)}: the roles of the historical appeals in the query's cell
  (and ring), smoothed toward the district, as `log(p_here / p_district)` per role; training rows get
  them from the history outside their own time fold (10 contiguous folds), the held-out 15 % from the
  earlier rows only, and the shipped model from all its training rows (a grid hash in the `.npz`)."""
        if d.get("labels")
        else "- No dispatch model: the history names no department; routing rules of the city's config decide."
    )
    text = f"""# Complaint text model — {city.city.name} (`{city.city.id}`)

What it does: language detection and PII redaction, then a hierarchical taxonomy classifier
({" → ".join(lv["name"] for lv in levels)}) with calibrated confidences, geocoding (coordinates, else a
gazetteer of historical addresses, else the district centre) and a dispatch model (department from
text + reason × district + category × district + repeated petition, where the history has any + who
answered the appeals made around the case's point before) with an auto-dispatch threshold. Runtime is
numpy only (`detectors/text`); training uses scikit-learn (`detectors/text/train.py`,
`detectors/text/train_dispatch.py`).

## Data

- Source: `{data.name}` (sha256 `{_sha256(data)[:16]}…`), read from `../shared/datasets/complaints/`;
  the raw rows are not in this repository.
- Shipped artifacts trained on **all** {shipped["trained_rows"]} rows with text,
  {shipped["trained_from"]} → {shipped["trained_to"]}.
- Numbers below come from a **time-split variant**: trained on {split_info["trained_rows"]} rows
  {split_info["trained_from"]} → {split_info["trained_to"]}, tested on the {report["rows"]} later rows
  {report["from"]} → {report["to"]}. That variant is written to `artifacts/text-split/` by the rebuild command.

## Classes

{classes}
- departments (dispatch): {len(shipped.get("dispatch", {}).get("labels", []))}

## Model

- Features: TF-IDF word 1–2-grams + `char_wb` {shipped["features"]["char_range"]}-grams (sublinear tf,
  L2 per block) + a "has a street address" flag; vocabulary, idf and int8 weights (per-class scale) in the `.npz`.
- One linear SVM per level; reason probabilities = temperature softmax; coarser levels mix their own head
  with the summed reason probabilities; decoding is consistent (reason inside the chosen category).
- Reported confidence = held-out accuracy at that probability (binned isotonic map fitted on the last 15 % of the
  training period).
{dispatch_bullet}

Calibration on the held-out 15 % of the split variant's training period:

| level | temperature | mix | accuracy | ECE of probability | ECE of reported confidence |
|---|---|---|---|---|---|
{calib}

## Metrics (time split, later-in-time test, artifacts loaded as the product loads them)

{format_report(report)}

## Auto-dispatch threshold

Shipped threshold **{d.get("threshold")}** for target precision {d.get("target_precision")} (chosen on the last 15 %
of the training period, as the lowest at which the one-sided 95 % Wilson lower bound of the precision
reaches the target; written to `config/cities/{city.city.id}/routing.yaml`). On that held-out slice:
auto rate {d.get("held_out_auto_rate")}, precision {d.get("held_out_auto_precision")}, its 95 % lower bound
{d.get("held_out_auto_precision_lower_95", "n/a")}.

{notes}

## Files

{sizes}

## Rebuild

```
{command}
cityops eval dispatch --city {city.city.id} --data {shown_path(data)} --models artifacts/text-split --out artifacts/eval
```
"""
    path.write_text(text, encoding="utf-8")
    return path
