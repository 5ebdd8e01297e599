"""Kubernetes manifests, offline: core kinds against the official schemas (kubernetes-validate),
operator kinds (Strimzi, KEDA, Prometheus Operator) against their required fields, the wiring
between them, and the generated files against the code they come from."""

from __future__ import annotations

import functools
import importlib.util
import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

from streams.topics import TOPICS
from tests import REPO_ROOT

ROOT = REPO_ROOT
K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.30"
CORE = {"Namespace", "ConfigMap", "Secret", "Service", "ServiceAccount", "Deployment", "StatefulSet",
        "Ingress", "PodDisruptionBudget"}
# Operator kinds: apiVersion and the spec fields their operators refuse to work without.
CRDS: dict[str, tuple[str, list[str]]] = {
    "Kafka": ("kafka.strimzi.io/v1beta2", ["kafka.listeners", "entityOperator.topicOperator"]),
    "KafkaNodePool": ("kafka.strimzi.io/v1beta2", ["replicas", "roles", "storage.type"]),
    "KafkaTopic": ("kafka.strimzi.io/v1beta2", ["partitions", "replicas", "topicName"]),
    "ScaledObject": ("keda.sh/v1alpha1", ["scaleTargetRef.name", "triggers"]),
    "ServiceMonitor": ("monitoring.coreos.com/v1", ["selector.matchLabels", "endpoints"]),
    "PrometheusRule": ("monitoring.coreos.com/v1", ["groups"]),
}


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("k8s_generate", K8S / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def manifests() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                docs.append((str(path.relative_to(K8S)), doc))
    return docs


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in manifests() if doc["kind"] == kind]


def one(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in by_kind(kind) if d["metadata"]["name"] == name]
    return doc


def dig(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def test_every_manifest_is_a_known_kind_in_the_cityops_namespace() -> None:
    docs = manifests()
    assert docs
    for source, doc in docs:
        assert doc["kind"] in CORE | set(CRDS), f"{source}: unexpected kind {doc['kind']}"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", doc["metadata"]["name"]), source
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "cityops", f"{source}: {doc['metadata']['name']}"


@pytest.mark.parametrize("index", range(len(manifests())))
def test_core_kinds_match_the_kubernetes_schema(index: int) -> None:
    source, doc = manifests()[index]
    if doc["kind"] not in CORE:
        kind, (api_version, required) = doc["kind"], CRDS[doc["kind"]]
        assert doc["apiVersion"] == api_version, source
        missing = [field for field in required if dig(doc["spec"], field) is None or dig(doc["spec"], field) == []]
        assert not missing, f"{source}: {kind} {doc['metadata']['name']} lacks spec.{missing}"
        return
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_tokens_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    files = {str(p.relative_to(K8S)) for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert listed == files - {"secret.yaml"}
    assert kustomization["namespace"] == "cityops"


def test_kafka_topics_are_the_topic_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITYOPS_PARTITIONS", raising=False)
    generator = load_generator()
    for path, text in generator.outputs().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run python deploy/k8s/generate.py"
    topics = {t["spec"]["topicName"]: t for t in by_kind("KafkaTopic")}
    assert set(topics) == set(TOPICS)
    for name, spec in TOPICS.items():
        config = topics[name]["spec"]["config"]
        assert config["retention.ms"] == str(spec.retention_ms)
        assert config["cleanup.policy"] == ("compact" if spec.compacted else "delete")
        assert topics[name]["metadata"]["labels"]["strimzi.io/cluster"] == one("Kafka", "cityops")["metadata"]["name"]
        assert topics[name]["spec"]["replicas"] > int(config["min.insync.replicas"]) >= 2


def test_city_configmap_holds_the_city_folder_and_is_mounted() -> None:
    config = one("ConfigMap", "cityops-city")
    folder = ROOT / "config" / "cities" / "spb"
    assert set(config["data"]) == {p.name for p in folder.glob("*.yaml")}
    worker = one("Deployment", "cityops-worker")
    volumes = {v["name"]: v for v in worker["spec"]["template"]["spec"]["volumes"]}
    assert volumes["city"]["configMap"]["name"] == "cityops-city"
    assert volumes["tokens"]["secret"]["secretName"] == one("Secret", "cityops-tokens")["metadata"]["name"]


def test_any_city_gets_its_configmap(tmp_path: Any) -> None:
    generator = load_generator()
    assert generator.main(["--city", "nyc", "--out", str(tmp_path)]) == 0
    (config,) = yaml.safe_load_all((tmp_path / "city-config.yaml").read_text(encoding="utf-8"))
    assert config["metadata"]["name"] == "cityops-city"
    assert config["metadata"]["labels"]["cityops.dev/city"] == "nyc"
    nyc = ROOT / "config" / "cities" / "nyc"
    assert config["data"] == {p.name: p.read_text(encoding="utf-8") for p in nyc.glob("*.yaml")}
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "city.yaml").write_text("city: {id: zz, name: Z, center: {lat: 1, lon: 2}}\n", encoding="utf-8")
    assert generator.city_configmap(str(folder))["metadata"]["labels"]["cityops.dev/city"] == "zz"


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_workers_run_cityops_with_probes_on_6066_and_point_at_kafka_and_redis() -> None:
    worker = one("Deployment", "cityops-worker")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["cityops", "worker"]
    assert container["ports"] == [{"name": "http", "containerPort": 6066}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    env = env_of(worker)
    assert env["CITYOPS_KAFKA_URL"] == "kafka://cityops-kafka-bootstrap.cityops.svc:9092"  # Strimzi's bootstrap
    redis_service = one("Service", "cityops-redis")
    assert env["CITYOPS_REDIS_URL"] == f"redis://{redis_service['metadata']['name']}.cityops.svc:6379/0"
    assert env["CITYOPS_WEB_PORT"] == "6066" and env["CITYOPS_WEB_HOST"] == "0.0.0.0"
    assert env["CITYOPS_WEB_BIND"] == "0.0.0.0"  # the Service reaches the pod's address; loopback is the default
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["CITYOPS_CITY"] == mounts["city"]
    assert env["CITYOPS_TOKENS_FILE"].startswith(mounts["tokens"] + "/")
    labels = worker["spec"]["template"]["metadata"]["labels"]
    assert worker["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_services_ingress_and_monitoring_reach_the_workers() -> None:
    pod_labels = one("Deployment", "cityops-worker")["spec"]["template"]["metadata"]["labels"]
    web = one("Service", "cityops-web")
    assert web["spec"]["selector"].items() <= pod_labels.items()
    assert web["spec"]["ports"][0]["port"] == 6066
    ingress = one("Ingress", "cityops-web")
    paths = {p["path"]: p["backend"]["service"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert set(paths) == {"/console", "/api", "/open311"}  # metrics and health stay inside the cluster
    assert all(b["name"] == "cityops-web" and b["port"]["name"] == "http" for b in paths.values())
    monitor = one("ServiceMonitor", "cityops-worker")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= web["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "http" and monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    redis_pods = one("StatefulSet", "cityops-redis")["spec"]["template"]["metadata"]["labels"]
    assert one("Service", "cityops-redis")["spec"]["selector"].items() <= redis_pods.items()


def test_autoscaling_follows_consumer_lag_up_to_one_worker_per_partition() -> None:
    scaled = one("ScaledObject", "cityops-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "cityops-worker"
    for trigger in scaled["spec"]["triggers"]:
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["bootstrapServers"] == "cityops-kafka-bootstrap.cityops.svc:9092"
    partitions = {t["spec"]["partitions"] for t in by_kind("KafkaTopic")}
    assert partitions == {int(env_of(one("Deployment", "cityops-worker"))["CITYOPS_PARTITIONS"])}
    assert scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"] <= min(partitions)


def test_every_consumer_group_scales_on_its_lag() -> None:
    """Each batch step's consumer group, on the topic it reads (the heartbeat canary is not load)."""
    from streams.cli.worker import selected_stages, stage_steps
    from streams.stage import BatchStage

    steps = [s for s in stage_steps(selected_stages("")) if isinstance(s, BatchStage) and s.name != "heartbeat"]
    triggers = {t["metadata"]["consumerGroup"]: t["metadata"]
                for t in one("ScaledObject", "cityops-worker")["spec"]["triggers"]}
    assert len(steps) >= 10
    assert set(triggers) == {step.group for step in steps}
    for step in steps:
        assert triggers[step.group]["topic"] == step.reads.name


def test_the_schema_check_catches_a_mistake() -> None:
    broken = yaml.safe_load(yaml.safe_dump(one("Deployment", "cityops-worker")))
    broken["spec"]["template"]["spec"]["contianers"] = broken["spec"]["template"]["spec"].pop("containers")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
