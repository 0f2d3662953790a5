"""Container health checks (docker-compose.yml, worker-host.yml): exit 0 when the process in this container does
its job, 1 with one line saying why not.

    python docker/healthcheck.py web [PORT]        GET /api/health on this replica (port 8000): it answers, and
                                                   so does the database
    python docker/healthcheck.py worker cpu|gpu    this container's Celery worker (node cpu@ or gpu@HOSTNAME)
                                                   answers a ping over the broker
    python docker/healthcheck.py beat              the database and the broker, which beat needs, answer
    python docker/healthcheck.py dicom PORT AET    the DICOM listener answers an association request

Runs with the container's environment; imports the project from the folder above this one.
"""
import json
import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

# `python docker/healthcheck.py` puts docker/ first on sys.path, not the project.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TIMEOUT_S = 10


def _django_ready() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spineplatform.settings")
    import django

    django.setup()


def _host_header() -> str:
    """A name Django accepts (ALLOWED_HOSTS' first), since a probe to 127.0.0.1 is refused under any other."""
    first = (os.environ.get("ALLOWED_HOSTS", "").split(",") or [""])[0].strip()
    if not first or first == "*":
        return "localhost"
    return first.lstrip(".")  # ".example.org" allows every subdomain and the domain itself


def web(port: str = "8000") -> str | None:
    request = urllib.request.Request(f"http://127.0.0.1:{int(port)}/api/health", headers={"Host": _host_header()})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return None if json.load(response).get("status") == "UP" else "health says DOWN"
    except urllib.error.HTTPError as error:
        return f"/api/health answered {error.code}: {error.read(300)!r}"
    except (OSError, ValueError) as error:
        return f"/api/health: {error}"


def worker(kind: str) -> str | None:
    _django_ready()
    from spineplatform.celery import app

    node = f"{kind}@{socket.gethostname()}"
    replies = app.control.ping(destination=[node], timeout=TIMEOUT_S / 2)
    return None if any(node in reply for reply in replies) else f"{node} did not answer a ping"


def beat() -> str | None:
    _django_ready()
    from django.db import connection

    from spineplatform.celery import app

    try:
        connection.ensure_connection()
    except Exception as error:  # noqa: BLE001 - any failure is the answer
        return f"database: {error}"
    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=TIMEOUT_S / 2)
    except Exception as error:  # noqa: BLE001
        return f"broker: {error}"
    return None


def dicom(port: str, called_ae_title: str) -> str | None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="HEALTHCHECK")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = TIMEOUT_S / 2
    association = ae.associate("127.0.0.1", int(port), ae_title=called_ae_title)
    if association.is_established:
        status = association.send_c_echo()
        association.release()
        return None if status and status.Status == 0x0000 else f"C-ECHO status {status}"
    # A listener that refuses our calling AE title (the project names its PACS nodes) is still up and answering.
    return None if association.is_rejected else "no answer to an association request"


CHECKS = {"web": web, "worker": worker, "beat": beat, "dicom": dicom}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CHECKS:
        sys.exit(f"usage: healthcheck.py {'|'.join(CHECKS)} [ARGS]")
    problem = CHECKS[sys.argv[1]](*sys.argv[2:])
    if problem:
        print(problem)
        sys.exit(1)
