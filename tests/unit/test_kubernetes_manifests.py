"""deploy/kubernetes starts as shipped: its ConfigMap and Secret examples (placeholders filled) pass
`cookcam config check`, every process that builds the store clients can read the files the settings name, the
ServiceMonitor gives the scrape the job label the alert rules select, and every manifest is valid against the
Kubernetes schemas (kubernetes-validate's offline copy; the ServiceMonitor is a CRD, whose schema it lacks)."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.kustomize import render

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = REPO / "deploy" / "kubernetes"
# The oldest Kubernetes the manifests claim (migrate-job.yaml: podFailurePolicy without onPodConditions) and the
# newest whose schemas are bundled.
KUBERNETES_VERSIONS = ("1.29", kubernetes_validate.utils.latest_version())
PLACEHOLDER = "CHANGE_ME"
# What an operator puts where the examples say CHANGE_ME.
FILLED = {
    "DATABASE_URL": "postgresql://cookcam:a-real-password@postgres.database.svc:5432/cookcam",
    "JWT_SECRET": "j" * 48,
    "STRIPE_SECRET_KEY": "sk_live_" + "s" * 40,
    "STRIPE_WEBHOOK_SECRET": "whsec_" + "w" * 40,
    "MAIL_SMTP_PASSWORD": "an SMTP password",
    "HTTP_METRICS_TOKEN": "m" * 48,
    "BILLING_RECEIPT_KEYS": "r1:" + base64.b64encode(b"k" * 32).decode(),
    "APPLE_APP_APPLE_ID": "1234567890",
    "APPLE_API_KEY_ID": "2X9R4HXF34",
    "APPLE_API_ISSUER_ID": "57246542-96fe-1a63-e053-0824d011072a",
    "GOOGLE_RTDN_AUDIENCE": "https://api.cookcam.example/api/v1/iap/notifications/google",
    "GOOGLE_RTDN_SERVICE_ACCOUNT_EMAIL": "play-rtdn@cookcam-prod.iam.gserviceaccount.com",
}
# The settings naming files, which come from the store-files Secret (a comma-separated list for the certificates).
FILE_SETTINGS = ("APPLE_ROOT_CERTIFICATES", "APPLE_API_PRIVATE_KEY_FILE", "GOOGLE_SERVICE_ACCOUNT_FILE")


def load(name: str) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all((KUBERNETES / name).read_text()) if document]


def one(resources: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [r for r in resources if r["kind"] == kind and name in (None, r["metadata"]["name"])]
    return found


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return render(KUBERNETES)


def settings_env(rendered: list[dict[str, Any]]) -> dict[str, str]:
    """What envFrom gives the pods: the ConfigMap's data and the Secret example's values."""
    (secret,) = load("secret.example.yaml")
    return {**one(rendered, "ConfigMap", "cookcam-config")["data"], **secret["stringData"]}


def config_check(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    cookcam = Path(sys.executable).parent / "cookcam"
    # Nothing of this process's environment but PATH, and a directory without a .env: only the manifests count.
    return subprocess.run(
        [str(cookcam), "config", "check"],
        env={"PATH": os.environ["PATH"], **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_configmap_and_secret_examples_pass_config_check_once_their_placeholders_are_filled(
    rendered: list[dict[str, Any]], tmp_path: Path
) -> None:
    env = settings_env(rendered)
    placeholders = {name for name, value in env.items() if PLACEHOLDER in value}
    assert placeholders == set(FILLED)
    as_shipped = config_check(env, tmp_path)
    assert as_shipped.returncode == 2
    assert [name for name in sorted(placeholders) if name not in as_shipped.stderr] == []
    filled = config_check({**env, **FILLED}, tmp_path)
    assert filled.returncode == 0, filled.stderr
    assert "Configuration is valid." in filled.stderr


def pod_specs(rendered: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    specs = {}
    for resource in rendered:
        spec = resource.get("spec", {})
        if resource["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            specs[resource["metadata"]["name"]] = spec["template"]["spec"]
    return specs


def test_every_process_building_the_store_clients_can_read_the_files_the_settings_name(
    rendered: list[dict[str, Any]],
) -> None:
    config = one(rendered, "ConfigMap", "cookcam-config")["data"]
    files = [PurePosixPath(path.strip()) for name in FILE_SETTINGS for path in config[name].split(",")]
    (store_files,) = load("secret-store-files.example.yaml")
    assert sorted(path.name for path in files) == sorted(store_files["stringData"])
    checked = []
    for workload, spec in pod_specs(rendered).items():
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for container in spec["containers"]:
            # `cookcam serve` and `cookcam jobs run` build the payment providers (app/billing/providers.py), which
            # read the Apple root certificates at start; `cookcam migrate` does not.
            if container["args"][1] not in ("serve", "jobs"):
                continue
            mounts = {
                PurePosixPath(mount["mountPath"]): volumes[mount["name"]]
                for mount in container.get("volumeMounts", [])
                if mount.get("readOnly")
            }
            for path in files:
                volume = mounts.get(path.parent, {})
                assert volume.get("secret", {}).get("secretName") == store_files["metadata"]["name"], (workload, path)
            # Secret files belong to root: the non-root user reads them through the group.
            assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsGroup"], workload
            checked.append(workload)
    assert len(checked) == 6  # the Deployment and the five CronJobs


def test_the_service_monitor_scrapes_with_the_job_label_the_alert_rules_select(rendered: list[dict[str, Any]]) -> None:
    (monitor,) = load("servicemonitor.yaml")
    service = one(rendered, "Service", "cookcam-api")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    # The Prometheus Operator takes the job label from this Service label (otherwise from the Service's name).
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    groups = yaml.safe_load((REPO / "deploy" / "prometheus" / "rules.yaml").read_text())["groups"]
    expressions = " ".join(rule["expr"] for group in groups for rule in group["rules"])
    assert set(re.findall(r'job="([^"]*)"', expressions)) == {job}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in [port["name"] for port in service["spec"]["ports"]]
    assert endpoint["path"] == "/metrics"
    # The API pods require HTTP_METRICS_TOKEN (secret.example.yaml); Prometheus reads it from the same Secret.
    (secret,) = load("secret.example.yaml")
    credentials = endpoint["authorization"]["credentials"]
    assert credentials["name"] == secret["metadata"]["name"]
    assert credentials["key"] == "HTTP_METRICS_TOKEN"
    assert credentials["key"] in secret["stringData"]


def test_the_ingress_routes_public_paths_only_and_the_network_policy_admits_the_api_port(
    rendered: list[dict[str, Any]],
) -> None:
    service = one(rendered, "Service", "cookcam-api")
    paths = []
    for ingress in [r for r in rendered if r["kind"] == "Ingress"]:
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"] == {"name": "cookcam-api", "port": {"name": "http"}}
                paths.append(path["path"])
    assert "/api" in paths
    # /ready names failing checks and /metrics is for Prometheus, which scrapes the pods directly.
    assert [p for p in paths if "/ready".startswith(p) or "/metrics".startswith(p)] == []
    policy = one(rendered, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == service["spec"]["selector"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert {port["port"] for rule in policy["spec"]["ingress"] for port in rule["ports"]} == {"http"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(rendered: list[dict[str, Any]], version: str) -> None:
    examples = load("secret.example.yaml") + load("secret-store-files.example.yaml")
    kinds = {r["kind"] for r in rendered}
    assert {"Deployment", "CronJob", "Job", "Ingress", "NetworkPolicy", "ConfigMap", "Service"} <= kinds
    for resource in rendered + examples:
        kubernetes_validate.validate(resource, version, strict=True)


def test_schema_validation_rejects_an_unknown_field(rendered: list[dict[str, Any]]) -> None:
    deployment = one(rendered, "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["volumeMount"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
