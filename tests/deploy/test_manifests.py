"""deploy/: every manifest is valid for Kubernetes, and the pieces a scaled-out deployment needs are there."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from bot.settings import REPO_ROOT

KUBERNETES_VERSION = "1.30.0"
DOCUMENTS = [
    (path.name, document)
    for path in sorted((REPO_ROOT / "deploy").glob("*.yaml"))
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document
]


@pytest.mark.parametrize(("name", "document"), DOCUMENTS,
                         ids=[f"{name}:{doc['kind']}/{doc['metadata']['name']}" for name, doc in DOCUMENTS])
def test_each_manifest_is_valid(name, document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def _of(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in DOCUMENTS if doc["kind"] == kind}


def test_every_server_has_probes_an_autoscaler_and_a_disruption_budget():
    deployments = _of("Deployment")
    assert set(deployments) == {"bianmin-gateway", "bianmin-rasa", "bianmin-actions"}
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert "readinessProbe" in container and "livenessProbe" in container, name
        assert deployment["spec"]["replicas"] >= 2, name
    assert {hpa["spec"]["scaleTargetRef"]["name"] for hpa in _of("HorizontalPodAutoscaler").values()} == set(deployments)
    assert all(hpa["spec"]["minReplicas"] >= 2 for hpa in _of("HorizontalPodAutoscaler").values())
    budgets = _of("PodDisruptionBudget")
    assert {b["spec"]["selector"]["matchLabels"]["component"] for b in budgets.values()} == {"gateway", "rasa", "actions"}


def test_databases_are_external_and_secrets_come_from_a_secret():
    services = _of("Service")
    assert services["postgres"]["spec"]["type"] == "ExternalName"
    assert services["redis"]["spec"]["type"] == "ExternalName"
    secret = _of("Secret")["bianmin-secrets"]
    assert {"RASA_TOKEN", "SESSION_SECRET", "FIELD_ENCRYPTION_KEY", "DATABASE_URL"} <= set(secret["stringData"])
    settings = _of("ConfigMap")["bianmin-settings"]["data"]
    assert not {"RASA_TOKEN", "SESSION_SECRET", "FIELD_ENCRYPTION_KEY"} & set(settings)
    assert settings["LOCK_STORE"] == "redis" and settings["RATE_LIMIT_STORAGE"] == "redis"


def test_the_model_is_an_artifact_copied_in_before_rasa_starts():
    pod = _of("Deployment")["bianmin-rasa"]["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["image"].split(":")[-1], "the model image is tagged by its digest"
    assert "--model /models" in pod["containers"][0]["args"][0]
