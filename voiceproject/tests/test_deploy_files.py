"""deploy/: the compose file and its HAProxy configuration are valid and agree with the code.

Docker is not run here; the YAML is read, the HAProxy configuration checked by HAProxy."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from voiceproject.balancer import COMPOSE_CERTS, HTTP_LOG_FORMAT, compose_config
from voiceproject.settings import BASE_DIR

DEPLOY = BASE_DIR / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def test_the_compose_file_has_the_whole_production_shape(compose: dict[str, Any]) -> None:
    services = compose["services"]

    assert set(services) == {
        "mongodb", "redis", "migrate", "app", "staff", "housekeeping", "haproxy"}  # fmt: skip
    assert "--replSet" in services["mongodb"]["command"]
    assert services["app"]["deploy"]["replicas"] == "${APP_REPLICAS:-3}"
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in services["haproxy"]["volumes"]
    assert services["app"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }


def test_old_recordings_are_deleted_daily_under_the_apps_own_settings(
    compose: dict[str, Any],
) -> None:
    app, upkeep = compose["services"]["app"], compose["services"]["housekeeping"]

    assert (upkeep["image"], upkeep["environment"]) == (app["image"], app["environment"])
    assert upkeep["command"][-1] == (
        "while true; do python manage.py delete_old_recordings; sleep 86400; done")  # fmt: skip
    assert upkeep["environment"]["RECORDING_RETENTION_DAYS"] == "${RECORDING_RETENTION_DAYS:-30}"
    assert upkeep["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert upkeep["restart"] == "unless-stopped"


def test_every_service_of_the_apps_image_can_build_it(compose: dict[str, Any]) -> None:
    """`docker compose up --build` builds the image whichever service starts first."""
    services = compose["services"]

    for name in ("migrate", "app", "staff", "housekeeping"):
        assert (services[name]["image"], services[name]["build"]) == ("voice-support", ".."), name


# README's settings Compose does not pass on, and why.
NOT_FOR_COMPOSE = {
    "PORT": "the image's 8000, where HAProxy and the health check reach each replica",
    "HOST": "`make run` and the workers command only; the image listens on every interface",
    "PROMETHEUS_MULTIPROC_DIR": "one process per container: each replica reports itself",
}


def readme_settings() -> set[str]:
    """Every variable named in a `| variable | meaning | default |` table of README.md."""
    names: set[str] = set()
    in_table = False
    for line in (BASE_DIR / "README.md").read_text().splitlines():
        if line.startswith("| variable | meaning | default |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table:
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def test_compose_passes_every_setting_of_the_readme_on(compose: dict[str, Any]) -> None:
    passed = set(compose["services"]["app"]["environment"])

    assert readme_settings() - passed - set(NOT_FOR_COMPOSE) == set()
    assert set(NOT_FOR_COMPOSE) <= readme_settings()


def test_the_readme_documents_every_setting_settings_reads() -> None:
    source = (BASE_DIR / "voiceproject" / "settings.py").read_text()
    read = set(re.findall(r'\benv(?:_\w+|\.\w+)\(\s*"([A-Z][A-Z0-9_]+)"', source))

    assert len(read) > 40
    assert read - readme_settings() == set()


def test_a_setting_compose_passes_on_empty_keeps_its_default(compose: dict[str, Any]) -> None:
    """`${VAR:-}` gives the container an empty value when the operator set none."""
    environment = compose["services"]["app"]["environment"]
    empty = sorted(name for name, value in environment.items() if value == f"${{{name}:-}}")
    show = (
        "import json, sys; from voiceproject import settings; "
        "print(json.dumps({n: getattr(settings, n) for n in sys.argv[1:]}, default=str))"
    )
    unset = {name: value for name, value in os.environ.items() if name not in empty}

    def settings_with(env: dict[str, str]) -> Any:
        return yaml.safe_load(subprocess.run(
            [sys.executable, "-c", show, *empty], cwd=BASE_DIR, env=env,
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout)  # fmt: skip

    assert len(empty) > 30
    assert settings_with(unset | dict.fromkeys(empty, "")) == settings_with(unset)
    assert environment["CALL_SUMMARY_MODEL"] is None  # passed only when set: empty is "off"


def test_every_app_container_shares_redis_and_knows_how_many_there_are(
    compose: dict[str, Any],
) -> None:
    env = compose["services"]["app"]["environment"]

    # Different databases: cache.clear() empties the cache's whole database.
    assert (env["CHANNEL_LAYERS_URL"], env["REDIS_URL"]) == (
        "redis://redis:6379/0", "redis://redis:6379/1",
    )  # fmt: skip
    assert "replicaSet=rs0" in env["MONGODB_URI"]


def interpolated(value: str, **shell: str) -> str:
    """`value` with Compose's `${VAR:-default}` read from `shell`."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: shell.get(m[1]) or m[2], value)


@pytest.mark.parametrize("apps, staff", [("", ""), ("1", "1"), ("2", "0"), ("10", "10")])
def test_the_app_counts_every_container_that_serves_the_deployment_staffs_too(
    compose: dict[str, Any], apps: str, staff: str
) -> None:
    """VOICE_WORKERS is how many processes serve the deployment (the workers command gives N
    call and K staff workers N+K): one app container beside one staff container is two, and
    the system checks must refuse them an in-memory channel layer or cache."""
    services = compose["services"]
    shell = {"APP_REPLICAS": apps, "STAFF_REPLICAS": staff}
    running = sum(int(interpolated(services[name]["deploy"]["replicas"], **shell))
                  for name in ("app", "staff"))  # fmt: skip
    slots = sum(map(int, re.findall(r"server-template \w+ 1-(\d+) ", compose_config())))

    workers = int(interpolated(services["app"]["environment"]["VOICE_WORKERS"], **shell))

    assert workers >= running and workers >= slots


def test_staff_containers_run_the_app_for_the_back_office_and_yield_the_cpu_to_calls(
    compose: dict[str, Any],
) -> None:
    app, staff = compose["services"]["app"], compose["services"]["staff"]
    config = compose_config()
    calls_backend, staff_backend = config.split("\nbackend daphne\n")[1].split("\nbackend staff\n")

    same = ("image", "environment", "healthcheck", "stop_grace_period", "depends_on", "restart")
    assert {key: staff[key] for key in same} == {key: app[key] for key in same}
    assert staff["deploy"]["replicas"] == "${STAFF_REPLICAS:-1}"
    assert staff["cpu_shares"] < app.get("cpu_shares", 1024)  # Docker's default weight
    assert "server-template app 1-10 app:8000" in calls_backend
    assert "server-template staff 1-10 staff:8000" in staff_backend
    assert "use_backend staff if staff_page { nbsrv(staff) gt 0 }" in config


def test_docker_waits_for_a_draining_container(compose: dict[str, Any]) -> None:
    app = compose["services"]["app"]
    grace = re.fullmatch(r"(\d+)s", app["stop_grace_period"])

    assert grace is not None and int(grace[1]) > float(app["environment"]["VOICE_DRAIN_S"])


def dockerfile_start(tmp_path: Path, **environment: str) -> list[str]:
    """The arguments the Dockerfile's CMD starts daphne with in `environment` (its start-up
    check passing): the CMD run by sh, with stand-ins for python and daphne."""
    command = json.loads(re.findall(r"^CMD (.+)$", (BASE_DIR / "Dockerfile").read_text(), re.M)[-1])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in (("python", "exit 0"), ("daphne", 'printf "%s\\n" "$@"')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{script}\n")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MONGODB_URI": "mongodb://db.invalid"}
    started = subprocess.run(
        command, env=env | environment, capture_output=True, text=True, timeout=10, check=True
    )
    return started.stdout.splitlines()


@pytest.mark.parametrize("port, listens_on", [("8000", "8000"), ("9090", "9090"), ("", "8000")])
def test_the_image_listens_on_port_on_every_interface(
    tmp_path: Path, port: str, listens_on: str
) -> None:
    """Cloud Run sets PORT; set but empty (Compose's `${PORT:-}`) counts as unset (contract
    section 1), where daphne was given `-p ''` and the container did not start."""
    started = dockerfile_start(tmp_path, PORT=port)

    assert started[:4] == ["-b", "0.0.0.0", "-p", listens_on]


def test_the_committed_haproxy_configuration_is_the_generated_one() -> None:
    assert (DEPLOY / "haproxy.cfg").read_text() == compose_config()


def test_the_compose_balancer_logs_requests_without_their_query_strings() -> None:
    """`option httplog` logs the whole request line, `?token=` and `?resume=` included."""
    directives = [line.strip() for line in compose_config().splitlines()
                  if not line.strip().startswith("#")]  # fmt: skip

    assert f'log-format "{HTTP_LOG_FORMAT}"' in directives and "%HP " in HTTP_LOG_FORMAT
    assert "option httplog" not in directives and not HTTP_LOG_FORMAT.endswith("%{+Q}r")


def test_the_compose_haproxy_configuration_is_valid_haproxy(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "site.pem").write_bytes(self_signed_pem("voice.example.com"))
    config = tmp_path / "haproxy.cfg"
    config.write_text((DEPLOY / "haproxy.cfg").read_text().replace(COMPOSE_CERTS, f"{certs}/"))

    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(config)],
        env={**os.environ, "HEALTH_CHECK_HOST": "voice.example.com"},
        capture_output=True, text=True,
    )  # fmt: skip

    assert checked.returncode == 0, checked.stdout + checked.stderr


def self_signed_pem(host: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_the_image_is_built_without_secrets_the_database_or_the_virtualenv() -> None:
    """The build context goes to the Docker daemon (maybe a remote one): .env holds secrets,
    var/ the embedded database, .venv/ some 800 MB. What the Dockerfile copies is not left out."""
    ignored = {line.strip().rstrip("/") for line in (BASE_DIR / ".dockerignore").read_text()
               .splitlines() if line.strip() and not line.startswith("#")}  # fmt: skip
    assert {".env", ".venv", "var", ".git", "test-artifacts"} <= ignored
    copied = re.findall(r"^COPY (\S+)", (BASE_DIR / "Dockerfile").read_text(), re.MULTILINE)
    assert copied and not ignored & set(copied)

