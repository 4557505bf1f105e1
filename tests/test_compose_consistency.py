"""docker-compose.yml, .env.example and the Kubernetes manifests speak the settings contract.

Every environment name a deployment sets must be a field of ``tj_common.settings.ServiceSettings``
or of a service's own ``Settings`` (upper-cased) or one of its documented aliases, and the
published ports must be the ones the native runner and the settings defaults use. A field added
to settings.py without a line in .env.example, or a typo in a compose variable (which pydantic
would silently ignore), fails here.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices

from tj_common.settings import (
    DEFAULT_S3_ACCESS_KEY,
    DEFAULT_S3_SECRET_KEY,
    LOCAL_KAFKA_PORT,
    LOCAL_PG_PORT,
    LOCAL_REDIS_PORT,
    LOCAL_S3_PORT,
    SERVICE_PORTS,
    ServiceSettings,
)

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
K8S_DIR = ROOT / "deploy" / "k8s"

APP_SERVICES = tuple(SERVICE_PORTS)  # gateway, trades, imports, billing
INFRA_HOST_PORTS = {
    "postgres": LOCAL_PG_PORT,
    "redis": LOCAL_REDIS_PORT,
    "kafka": LOCAL_KAFKA_PORT,
    "s3": LOCAL_S3_PORT,
}
# Read by the settings' model validator from the process environment, not declared as fields.
SERVICE_SPECIFIC = frozenset(f"{service.upper()}_DATABASE_URL" for service in APP_SERVICES)
# Set by the Dockerfile to pick the service; read by the container's CMD and HEALTHCHECK only.
IMAGE_ONLY = frozenset({"SERVICE"})
# `${NAME:-default}` in compose: compared by its default.
_INTERPOLATION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}")
# `NAME=value` or `# NAME=value` (a documented but commented-out setting) in .env.example.
_ENV_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


def settings_fields() -> dict[str, Any]:
    """The fields of the shared settings and of each service's own (tj_<service>.settings)."""
    fields = dict(ServiceSettings.model_fields)
    for service in APP_SERVICES:
        fields.update(importlib.import_module(f"tj_{service}.settings").Settings.model_fields)
    return fields


def field_env_names() -> dict[str, set[str]]:
    """Each settings field with every environment name that sets it (name, alias, alias choices)."""
    names: dict[str, set[str]] = {}
    for field_name, field in settings_fields().items():
        env = {field_name.upper()}
        if isinstance(field.alias, str):
            env.add(field.alias.upper())
        alias = field.validation_alias
        if isinstance(alias, str):
            env.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            env.update(choice.upper() for choice in alias.choices if isinstance(choice, str))
        names[field_name] = env
    return names


def allowed_env_names() -> set[str]:
    allowed: set[str] = set(SERVICE_SPECIFIC)
    for env in field_env_names().values():
        allowed |= env
    return allowed


def resolved(value: Any) -> str:
    return _INTERPOLATION.sub(lambda m: m.group(1), str(value))


def published_ports(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) for each `ports` entry, short or long syntax."""
    pairs = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            pairs.append((int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        assert len(parts) >= 2, f"port {entry!r} publishes no fixed host port"
        pairs.append((int(parts[-2]), int(parts[-1])))
    return pairs


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): resolved(value) for key, value in env.items()}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert COMPOSE_FILE.exists(), f"{COMPOSE_FILE} is missing"
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml must be a YAML mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = compose.get("services")
    assert isinstance(result, dict), "docker-compose.yml has no `services:` mapping"
    return result


def built_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services.items() if "build" in svc}


def test_compose_declares_the_whole_stack(compose: dict[str, Any], services: dict[str, Any]) -> None:
    assert "version" not in compose, "drop the top-level `version:` key; the compose spec has none"
    expected = {*APP_SERVICES, *INFRA_HOST_PORTS, "bootstrap"}
    missing = sorted(expected - services.keys())
    assert not missing, f"docker-compose.yml lacks services {missing}; it declares {sorted(services)}"


def test_app_environment_names_are_settings_fields(services: dict[str, Any]) -> None:
    allowed = allowed_env_names() | IMAGE_ONLY
    problems = {}
    for name, svc in built_services(services).items():
        unknown = sorted(set(environment(svc)) - allowed)
        if unknown:
            problems[name] = unknown
    assert not problems, (
        f"compose sets environment variables that no settings field reads: {problems}. "
        "pydantic ignores unknown names, so the value would silently not apply. Use a field of "
        "tj_common.settings.ServiceSettings upper-cased, or <SERVICE>_DATABASE_URL; "
        f"known names: {sorted(allowed)}"
    )


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_image_port_and_role(services: dict[str, Any], name: str) -> None:
    svc = services[name]
    build = svc.get("build")
    assert isinstance(build, dict), f"{name}: build from the Dockerfile with `build: {{args: {{SERVICE: {name}}}}}`"
    assert (build.get("args") or {}).get("SERVICE") == name, f"{name}: build arg SERVICE must be {name!r}"

    port = SERVICE_PORTS[name]
    env = environment(svc)
    assert env.get("HOST", "0.0.0.0") == "0.0.0.0", (
        f"{name}: HOST must be 0.0.0.0 in a container (settings default to 127.0.0.1, unreachable "
        f"through the published port); got {env.get('HOST')!r}"
    )
    assert env.get("PORT") == str(port), f"{name}: PORT should be {port} (SERVICE_PORTS), got {env.get('PORT')!r}"
    assert (port, port) in published_ports(svc), (
        f"{name}: publish {port}:{port} (SERVICE_PORTS[{name!r}]); it publishes {published_ports(svc)}"
    )

    url = urlsplit(env.get("DATABASE_URL", ""))
    assert url.username == name, (
        f"{name}: DATABASE_URL must connect as the service's own role {name!r}, got {url.username!r}"
    )
    assert url.password == f"{name}_local", f"{name}: the local password of role {name!r} is {name}_local"
    assert url.path == "/trading_journal", f"{name}: DATABASE_URL should name trading_journal, got {url.path!r}"

    depends = svc.get("depends_on") or {}
    assert isinstance(depends, dict), f"{name}: depends_on must be a mapping with conditions"
    assert (depends.get("bootstrap") or {}).get("condition") == "service_completed_successfully", (
        f"{name}: must start only after `bootstrap` (topics + migrations) completed successfully"
    )


def test_bootstrap_migrates_each_service_with_its_own_role(services: dict[str, Any]) -> None:
    env = environment(services["bootstrap"])
    for name in APP_SERVICES:
        key = f"{name.upper()}_DATABASE_URL"
        url = urlsplit(env.get(key, ""))
        assert url.username == name, f"bootstrap: {key} must connect as role {name!r}, got {url.username!r}"


def test_gateway_reads_from_the_owning_services(services: dict[str, Any]) -> None:
    env = environment(services["gateway"])
    for name in ("trades", "imports", "billing"):
        key = f"{name.upper()}_QUERY_URL"
        assert env.get(key) == f"http://{name}:{SERVICE_PORTS[name]}", (
            f"gateway: {key} should be http://{name}:{SERVICE_PORTS[name]}, got {env.get(key)!r}"
        )


@pytest.mark.parametrize(("name", "port"), sorted(INFRA_HOST_PORTS.items()))
def test_infrastructure_host_ports_match_the_native_runner(services: dict[str, Any], name: str, port: int) -> None:
    hosts = [host for host, _ in published_ports(services[name])]
    assert port in hosts, (
        f"{name}: publish host port {port} (tj_common.settings LOCAL_* constant) so processes on the "
        f"host reach it as they reach the native runner; it publishes {hosts}"
    )


def test_kafka_advertises_the_host_listener(services: dict[str, Any]) -> None:
    advertised = environment(services["kafka"]).get("KAFKA_ADVERTISED_LISTENERS", "")
    assert f":{LOCAL_KAFKA_PORT}" in advertised, (
        f"kafka: KAFKA_ADVERTISED_LISTENERS must advertise the host port {LOCAL_KAFKA_PORT}, "
        f"or host clients are redirected to an unreachable address; got {advertised!r}"
    )


def test_storage_identity_matches_the_settings_defaults(services: dict[str, Any]) -> None:
    s3 = environment(services["s3"])
    assert s3.get("S3PROXY_IDENTITY") == DEFAULT_S3_ACCESS_KEY, "s3: identity must be settings' S3_ACCESS_KEY default"
    assert s3.get("S3PROXY_CREDENTIAL") == DEFAULT_S3_SECRET_KEY, "s3: credential must be settings' S3_SECRET_KEY"
    bucket = ServiceSettings.model_fields["s3_bucket"].default
    for name, svc in built_services(services).items():
        env = environment(svc)
        if "S3_ACCESS_KEY" in env:
            assert env["S3_ACCESS_KEY"] == DEFAULT_S3_ACCESS_KEY, f"{name}: S3_ACCESS_KEY differs from s3proxy's"
            assert env.get("S3_SECRET_KEY") == DEFAULT_S3_SECRET_KEY, f"{name}: S3_SECRET_KEY differs from s3proxy's"
        if "S3_BUCKET" in env:
            assert env["S3_BUCKET"] == bucket, f"{name}: S3_BUCKET should be {bucket!r}"


def env_example_entries() -> dict[str, str]:
    assert ENV_EXAMPLE.exists(), f"{ENV_EXAMPLE} is missing"
    entries: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = _ENV_LINE.match(line.strip())
        if match:
            entries[match.group(1)] = match.group(2)
    return entries


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    entries = env_example_entries()
    missing = sorted(field_name.upper() for field_name, env in field_env_names().items() if not env & entries.keys())
    assert not missing, (
        f".env.example does not mention {missing}: add `NAME=<local default>` (or `# NAME=` when "
        "the value is per process or has no local value) with a one-line comment above it"
    )
    unknown = sorted(entries.keys() - allowed_env_names())
    assert not unknown, f".env.example names {unknown}, which no settings field reads (typo or removed field?)"


def test_env_example_values_are_the_local_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # A clean environment, so only the file (or nothing) decides.
    for name in allowed_env_names() | {key for key in os.environ if key.endswith("_DATABASE_URL")}:
        monkeypatch.delenv(name, raising=False)
    defaults = ServiceSettings(_env_file=None).model_dump()  # type: ignore[call-arg]
    from_file = ServiceSettings(_env_file=ENV_EXAMPLE).model_dump()  # type: ignore[call-arg]
    differing = {key: (from_file[key], defaults[key]) for key in defaults if from_file[key] != defaults[key]}
    assert not differing, (
        f".env.example should carry the local defaults of settings.py; these differ (file, default): {differing}"
    )


def test_dockerfile_contract() -> None:
    text = DOCKERFILE.read_text()
    for needle, why in (
        ("ARG SERVICE", "the service is chosen by the SERVICE build arg"),
        ("UV_PYTHON_DOWNLOADS=never", "uv must use the image's Python, never download one"),
        ("uv sync --frozen", "the image installs exactly the locked dependencies"),
        ("USER 1001", "the runtime runs as the non-root uid 1001"),
        ("HOST=0.0.0.0", "the server must listen beyond the container's loopback"),
        ("HEALTHCHECK", "the container reports /health"),
        ("/health", "the health check hits /health"),
        ("tj_${SERVICE}.main", "CMD runs python -m tj_<service>.main"),
    ):
        assert needle in text, f"Dockerfile: missing {needle!r} ({why})"


def k8s_documents() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(K8S_DIR.rglob("*.yaml")):
        documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict))
    return documents


def test_kubernetes_environment_names_are_settings_fields() -> None:
    if not K8S_DIR.exists():
        pytest.skip("deploy/k8s is not present")
    allowed = allowed_env_names() | IMAGE_ONLY
    unknown: dict[str, list[str]] = {}
    for doc in k8s_documents():
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if doc.get("kind") in {"ConfigMap", "Secret"}:
            keys = set(doc.get("data") or {}) | set(doc.get("stringData") or {})
        else:
            spec = doc.get("spec", {})
            pod = spec.get("template", {}).get("spec", {}) or spec.get("jobTemplate", {}).get("spec", {}).get(
                "template", {}
            ).get("spec", {})
            containers = [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]
            keys = {env["name"] for container in containers for env in container.get("env") or []}
        bad = sorted(keys - allowed)
        if bad:
            unknown[where] = bad
    assert not unknown, f"Kubernetes manifests set names no settings field reads: {unknown}"


def _compose_command() -> list[str] | None:
    """`docker compose`, or a standalone docker-compose v2; None when neither can run."""
    docker = shutil.which("docker")
    assert docker is not None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=60)
    if probe.returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        short = subprocess.run([standalone, "version", "--short"], capture_output=True, text=True, timeout=60)
        if short.returncode == 0 and not short.stdout.strip().startswith("1."):
            return [standalone]
    return None


def test_docker_compose_config_is_valid() -> None:
    """`docker compose config` parses and validates against the compose spec; no engine needed."""
    if shutil.which("docker") is None:
        pytest.skip("the docker client is not installed; the YAML checks above still ran")
    command = _compose_command()
    if command is None:
        message = (
            "the docker client is installed but its compose plugin is not (`docker compose version` "
            "fails): install docker-compose v2 as ~/.docker/cli-plugins/docker-compose"
        )
        if os.environ.get("TJ_REQUIRE_COMPOSE"):
            pytest.fail(message)
        pytest.skip(message)
    # The example env file makes the check independent of a developer's own .env.
    result = subprocess.run(
        [*command, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"docker compose config rejected docker-compose.yml:\n{result.stderr}"
