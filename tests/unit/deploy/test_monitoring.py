"""The alert rules (deploy/k8s/monitoring.yaml) name metrics the product exports, with labels they carry,
and thresholds those metrics can reach: a rule that can never fire is caught here, not in an incident."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

import streams.web.metrics  # noqa: F401  (registers the web layer's metrics)
from streams.metrics import REGISTRY
from tests import REPO_ROOT

RULES_FILE = REPO_ROOT / "deploy" / "k8s" / "monitoring.yaml"
# Labels Prometheus adds to every scraped series (the ServiceMonitor's target).
TARGET_LABELS = {"instance", "job", "namespace", "pod", "service", "endpoint", "container"}
# Series other exporters provide, with the labels the rules use (kube-state-metrics runs with the operator).
EXTERNAL = {"kube_pod_status_ready": {"namespace", "pod", "condition"}}
_FUNCTIONS = {"sum", "max", "min", "avg", "rate", "deriv", "histogram_quantile", "increase", "by", "and", "or",
              "time", "le", "count", "without", "unless", "on", "ignoring"}


def rules() -> list[dict[str, Any]]:
    docs = yaml.safe_load_all(RULES_FILE.read_text(encoding="utf-8"))
    return [r for d in docs if d["kind"] == "PrometheusRule" for g in d["spec"]["groups"] for r in g["rules"]]


def families() -> dict[str, Any]:
    """Every sample name the exposition has -> its metric family (counters _total, histograms _bucket/…)."""
    out: dict[str, Any] = {}
    for family in REGISTRY.collect():
        names = {family.name} | {s.name for s in family.samples}
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_sum", "_count")}
        for name in names:
            out[name] = family
    return out


def labels_of(family: Any) -> set[str]:
    """The label names of a family, read from its metric objects (samples may not exist yet)."""
    from streams import metrics as m
    from streams.web import metrics as wm

    for module in (m, wm):
        for value in vars(module).values():
            if getattr(value, "_name", None) == family.name:
                return set(value._labelnames) | ({"le"} if family.type == "histogram" else set())
    return set()


def metric_names(expr: str) -> set[str]:
    words = set(re.findall(r"\b([a-z_][a-z0-9_]*)\b\s*(?=[\[{)\s/]|$)", expr))
    return {w for w in words if "_" in w and w not in _FUNCTIONS and not w.startswith("le")}


RULES = rules()


def test_there_are_rules_for_lag_dead_letters_dispatch_and_readiness() -> None:
    names = {r["alert"] for r in RULES}
    assert {"CityOpsConsumerLagGrowing", "CityOpsDeadLetters", "CityOpsComplaintToDispatchSlow",
            "CityOpsWorkerNotReady"} <= names


@pytest.mark.parametrize("rule", RULES, ids=[r["alert"] for r in RULES])
def test_every_alert_names_exported_metrics_with_their_labels(rule: dict[str, Any]) -> None:
    expr = " ".join(str(rule["expr"]).split())
    known = families()
    used = metric_names(expr)
    assert used, expr
    available: set[str] = set(TARGET_LABELS)
    for name in used:
        if name in EXTERNAL:
            available |= EXTERNAL[name]
            continue
        assert name in known, f"{rule['alert']}: {name} is not exported (counters end in _total)"
        family = known[name]
        available |= labels_of(family)
        if name.endswith("_total") or name.endswith("_bucket"):
            assert re.search(rf"(rate|increase)\(\s*{name}\b", expr), f"{name} is a counter: use rate()"
        if family.type == "gauge":
            assert not re.search(rf"rate\(\s*{name}\b", expr), f"{name} is a gauge: rate() of it means nothing"
    grouped = {lab.strip() for group in re.findall(r"by \(([^)]*)\)", expr) for lab in group.split(",")}
    matched = set(re.findall(r"[{,]\s*([a-z_]+)\s*=~?", expr))
    in_text = set(re.findall(r"\$labels\.([a-z_]+)", str(rule.get("annotations", {}))))
    missing = (grouped | matched | in_text) - available
    assert not missing, f"{rule['alert']}: labels {missing} are on none of {used}"
    for label in in_text:  # an annotation can only name a label the expression keeps
        assert label in grouped or label in matched, f"{rule['alert']}: $labels.{label} is aggregated away"


@pytest.mark.parametrize("rule", RULES, ids=[r["alert"] for r in RULES])
def test_every_threshold_is_reachable(rule: dict[str, Any]) -> None:
    expr = " ".join(str(rule["expr"]).split())
    known = families()
    for name, threshold in re.findall(r"histogram_quantile\([0-9.]+,.*?\b(\w+)_bucket\b.*?\)\)\s*>\s*([0-9.]+)",
                                      expr):
        buckets = [float(s.labels["le"]) for s in known[name + "_bucket"].samples
                   if s.name.endswith("_bucket") and s.labels["le"] != "+Inf"]
        assert float(threshold) < max(buckets), (
            f"{rule['alert']}: a quantile of {name} never exceeds its largest bucket {max(buckets)}")
    ratio = re.search(r"(\w+) / (\w+)\)\s*>\s*([0-9.]+)", expr)
    if ratio:
        assert 0 < float(ratio.group(3)) < 1, f"{rule['alert']}: a share over 1 cannot be exceeded"
    assert str(rule.get("for", "0m")).endswith("m") and rule["labels"]["severity"] in ("warning", "critical")
