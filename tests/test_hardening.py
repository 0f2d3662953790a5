"""Hardening: secrets at start-up, log-in lockout, API throttling, security headers, deep JSON, zip bombs, and
the audit trail of log-ins. Each test here failed on the code before these protections."""
import base64
import io
import json
import os
import secrets
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from annotation import services
from annotation.models import AuditEvent, Case, Instance, Role
from spineplatform.lockout import client_address
from spineplatform.parsers import JSONTooDeep, json_depth_check, json_loads_limited
from tests.browser.conftest import browser, log_in  # noqa: F401  (the browser fixture, for the viewer test)
from tests.conftest import make_user

ROOT = Path(__file__).resolve().parent.parent
# Variables a developer's or CI's shell may hold that would change what a fresh process does.
SETTINGS_VARIABLES = ("DATABASE_URL", "SECRET_KEY", "DEID_SALT", "DEBUG", "CELERY_BROKER_URL", "CACHE_URL",
                      "DJANGO_ALLOW_ASYNC_UNSAFE")  # the last one set by tests/browser/conftest.py


def clean_env(tmp_path, **overrides) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES and not k.startswith("SECURE_")}
    env.update(DJANGO_SETTINGS_MODULE="spineplatform.settings", SPINEREAD_VAR_DIR=str(tmp_path / "var"),
               PYTHONPATH=str(ROOT))
    env.update(overrides)
    return env


def settings_in_fresh_process(env: dict, *names: str) -> subprocess.CompletedProcess:
    """Imports the settings module in a new interpreter and prints the named settings as JSON."""
    code = ("import json; from django.conf import settings; "
            f"print(json.dumps({{n: str(getattr(settings, n)) for n in {list(names)!r}}}))")
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


SERVER_DB = "postgres://nobody@127.0.0.1:9/none"  # never connected to: importing settings opens no connection


# Secrets: no published SECRET_KEY / DEID_SALT with DEBUG off -------------------------------------------------

@pytest.mark.parametrize("missing", ["SECRET_KEY", "DEID_SALT"])
def test_database_server_without_a_secret_refuses_to_start(tmp_path, missing):
    env = clean_env(tmp_path, DATABASE_URL=SERVER_DB, SECRET_KEY=secrets.token_urlsafe(50),
                    DEID_SALT=secrets.token_urlsafe(20))
    del env[missing]

    result = settings_in_fresh_process(env, "SECRET_KEY")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and f"{missing} must be set" in result.stderr


@pytest.mark.parametrize("name, value", [
    ("SECRET_KEY", "dev-only-insecure-key-set-SECRET_KEY-in-production"),
    ("DEID_SALT", "spineread-dev-deid-salt"),
    ("SECRET_KEY", "CHANGE-ME-to-50-random-characters"),  # .env.example copied as it is
    ("DEID_SALT", "CHANGE-ME-once"),
])
@pytest.mark.parametrize("database_url", ["", SERVER_DB])
def test_published_secret_with_debug_off_refuses_to_start(tmp_path, name, value, database_url):
    env = clean_env(tmp_path, SECRET_KEY=secrets.token_urlsafe(50), DEID_SALT=secrets.token_urlsafe(20))
    env[name] = value
    if database_url:
        env["DATABASE_URL"] = database_url

    result = settings_in_fresh_process(env, "SECRET_KEY")

    assert result.returncode != 0
    assert f"{name} is set to a value published with SpineRead" in result.stderr


def test_newcomer_sqlite_setup_makes_up_stable_private_secrets_in_var(tmp_path):
    env = clean_env(tmp_path)  # a fresh clone: nothing set

    first = settings_in_fresh_process(env, "SECRET_KEY", "DEID_SALT", "DEBUG")
    second = settings_in_fresh_process(env, "SECRET_KEY", "DEID_SALT")

    assert first.returncode == 0, first.stderr
    values = json.loads(first.stdout)
    assert json.loads(second.stdout) == {"SECRET_KEY": values["SECRET_KEY"], "DEID_SALT": values["DEID_SALT"]}
    assert values["DEBUG"] == "False"
    assert len(values["SECRET_KEY"]) >= 50 and values["SECRET_KEY"] != values["DEID_SALT"]
    assert values["SECRET_KEY"] != "dev-only-insecure-key-set-SECRET_KEY-in-production"
    assert values["DEID_SALT"] != "spineread-dev-deid-salt"
    for name in ("secret_key", "deid_salt"):
        assert (tmp_path / "var" / name).stat().st_mode & 0o777 == 0o600


def test_debug_on_a_database_server_may_run_without_secrets(tmp_path):
    result = settings_in_fresh_process(clean_env(tmp_path, DATABASE_URL=SERVER_DB, DEBUG="1"), "SECRET_KEY")
    assert result.returncode == 0, result.stderr


def production_env(tmp_path) -> dict:
    """.env.example as a site would fill it in: its variables, with real secrets instead of CHANGE-ME."""
    env = clean_env(tmp_path)
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    env.update(SECRET_KEY=secrets.token_urlsafe(50), DEID_SALT=secrets.token_urlsafe(20),
               MEDIA_ROOT=str(tmp_path / "media"))
    return env


def check_deploy(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=180)


def issue_ids(output: str) -> set[str]:
    return {line.split("(", 1)[1].split(")", 1)[0] for line in output.splitlines() if line.startswith("?: (")}


@pytest.mark.slow
def test_check_deploy_is_clean_with_the_production_settings_of_env_example(tmp_path):
    result = check_deploy(production_env(tmp_path))

    assert issue_ids(result.stdout + result.stderr) == set(), result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    security = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING",
                               "--tag", "security", "--tag", "database"], env=production_env(tmp_path), cwd=ROOT,
                              capture_output=True, text=True, timeout=180)
    assert security.returncode == 0, security.stdout + security.stderr


@pytest.mark.slow
def test_check_deploy_reports_the_newcomer_defaults(tmp_path):
    result = check_deploy(clean_env(tmp_path))

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert {"spineread.E001", "spineread.E002", "security.W004", "security.W008", "security.W012",
            "security.W016"} <= issue_ids(output)
    assert "SECRET_KEY was generated" in output


# Log-in lockout (django-axes) ---------------------------------------------------------------------------------

def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.mark.django_db
def test_five_wrong_passwords_on_the_login_page_lock_the_right_one_out(client, settings):
    make_user("alice", Role.READER)

    failures = [client.post("/login/", {"username": "alice", "password": f"wrong-{i}"}) for i in range(5)]
    right = client.post("/login/", {"username": "alice", "password": "pw-alice"})

    assert [r.status_code for r in failures[:4]] == [200] * 4  # the form again, with its error
    assert failures[4].status_code == 429
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session
    assert "Too many failed log-ins" in right.content.decode() and right["Retry-After"] == "900"
    # Another user from the same address, and the same user from another address, are not locked out.
    make_user("bob", Role.READER)
    assert client.post("/login/", {"username": "bob", "password": "pw-bob"}).status_code == 302
    assert client.post("/login/", {"username": "alice", "password": "pw-alice"},
                       REMOTE_ADDR="10.1.2.3").status_code == 302


@pytest.mark.django_db
def test_five_wrong_passwords_over_http_basic_lock_the_api_out(client, coordinator, project):
    failures = [client.get("/api/projects/", HTTP_AUTHORIZATION=basic("coord", f"wrong-{i}")) for i in range(5)]
    right = client.get("/api/projects/", HTTP_AUTHORIZATION=basic("coord", "pw-coord"))

    assert [r.status_code for r in failures[:4]] == [403] * 4  # DRF: the session scheme comes first
    assert (failures[4].status_code, right.status_code) == (429, 429)
    assert "Too many failed log-ins" in right.json()["detail"]
    assert client.get("/api/projects/", HTTP_AUTHORIZATION=basic("coord", "pw-coord"),
                      REMOTE_ADDR="10.1.2.3").status_code == 200


@pytest.mark.django_db
def test_a_successful_login_resets_the_failure_count(client):
    make_user("alice", Role.READER)
    for i in range(4):
        client.post("/login/", {"username": "alice", "password": f"wrong-{i}"})
    assert client.post("/login/", {"username": "alice", "password": "pw-alice"}).status_code == 302
    client.post("/logout/")
    for i in range(4):
        client.post("/login/", {"username": "alice", "password": f"wrong-{i}"})
    assert client.post("/login/", {"username": "alice", "password": "pw-alice"}).status_code == 302


@pytest.mark.parametrize("proxies, forwarded, expected", [
    (0, "6.6.6.6", "10.0.0.1"),  # no proxy trusted: X-Forwarded-For is the client's own say
    (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # the proxy appended the address it saw
    (2, "6.6.6.6, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
    (1, "", "10.0.0.1"),
])
def test_client_address_trusts_only_the_configured_proxies(rf, settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


# API throttling --------------------------------------------------------------------------------------------

@pytest.fixture
def low_rates(monkeypatch):
    """The counts live in the cache, shared by every test in this process: cleared before and after."""
    cache.clear()
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/min", "user": "3/min"})
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"anon": "2/min", "user": "3/min"})
    yield
    cache.clear()


class OpenApi(APIView):
    """A view open to anonymous clients. No route of the API is (DRF checks permissions before throttles, so
    an anonymous call to a signed-in-only route is refused first); this stands for the next one that is."""

    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"ok": True})


@pytest.mark.django_db
def test_anonymous_client_over_the_rate_gets_429(rf, low_rates):
    view = OpenApi.as_view()
    statuses = [view(rf.get("/api/open/", REMOTE_ADDR="10.0.0.5")).status_code for _ in range(3)]
    other_address = view(rf.get("/api/open/", REMOTE_ADDR="10.0.0.6")).status_code
    assert (statuses, other_address) == ([200, 200, 429], 200)


@pytest.mark.django_db
def test_user_over_the_rate_gets_429(client, coordinator, project, low_rates):
    client.force_login(coordinator)
    statuses = [client.get("/api/projects/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_production_rates_are_generous_and_set_from_the_environment(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates == {"anon": os.environ.get("API_THROTTLE_ANON", "60/min"),
                     "user": os.environ.get("API_THROTTLE_USER", "2000/min")}


# Security headers ------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_pages_carry_a_content_security_policy_and_browser_protections(client):
    response = client.get("/login/")

    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"].startswith("'self' 'wasm-unsafe-eval'") and "unsafe-inline" not in policy["script-src"]
    assert policy["worker-src"] == "'self' blob:" and policy["img-src"] == "'self' data: blob:"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response.cookies["csrftoken"]["samesite"] == "Lax"


@pytest.mark.django_db
def test_only_the_viewer_pages_may_evaluate_strings_for_the_dicom_codecs(client, coordinator, project):
    from tests.factories import CaseFactory

    reader = make_user("alice", Role.READER)
    case = CaseFactory(project=project)
    services.case_assign(case=case, user=reader, role=Role.READER, actor=coordinator)
    client.force_login(reader)

    viewer = client.get(f"/cases/{case.pk}/read/")
    worklist = client.get("/worklist/")

    assert viewer.status_code == 200 and worklist.status_code == 200
    assert "'unsafe-eval'" in viewer["Content-Security-Policy"] and "connect-src 'self' data:" in viewer[
        "Content-Security-Policy"]
    assert "unsafe-eval'" not in worklist["Content-Security-Policy"].replace("'wasm-unsafe-eval'", "")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"])
def test_the_viewer_decodes_compressed_dicom_under_the_content_security_policy(browser, live_server, project,
                                                                               name):
    from pydicom.data import get_testdata_file

    from tests.browser.test_reading_flow import canvas_stats

    imported = services.case_import(project=project, sources=[(name, Path(get_testdata_file(name)).read_bytes(),
                                                                False)])
    reader = make_user("alice", Role.READER)
    services.case_assign(case=Case.objects.get(pk=imported.case_ids[0]), user=reader, role=Role.READER)
    page = log_in(browser, live_server, "alice")
    refused = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text or "failed" in message.text else None)

    page.goto(f"{live_server.url}/cases/{imported.case_ids[0]}/read/")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)

    assert refused == []
    assert canvas_stats(page)["bright"] > 1000  # decoded and drawn, not a blank canvas


@pytest.mark.django_db
def test_session_cookie_is_http_only(client):
    make_user("alice", Role.READER)
    response = client.post("/login/", {"username": "alice", "password": "pw-alice"})
    assert response.cookies["sessionid"]["httponly"] is True


@pytest.mark.django_db
def test_api_docs_page_runs_no_inline_script(client, coordinator):
    client.force_login(coordinator)
    page = client.get("/api/docs/").content.decode()
    scripts = page.split("<script")[1:]
    assert scripts and all(tag.split(">", 1)[0].strip().startswith("src=") for tag in scripts), page


def test_https_settings_come_from_the_environment(tmp_path):
    env = production_env(tmp_path)
    result = settings_in_fresh_process(env, "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                                       "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
                                       "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "SECURE_SSL_REDIRECT": "True", "SESSION_COOKIE_SECURE": "True", "CSRF_COOKIE_SECURE": "True",
        "SECURE_HSTS_SECONDS": "31536000", "SECURE_HSTS_INCLUDE_SUBDOMAINS": "True", "SECURE_HSTS_PRELOAD": "True",
        "SECURE_PROXY_SSL_HEADER": "('HTTP_X_FORWARDED_PROTO', 'https')",
    }


# Deeply nested JSON ----------------------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_depth_limit_counts_brackets_outside_strings():
    json_depth_check(nested(64))
    json_depth_check('{"a": "' + "[" * 1000 + '"}')  # brackets inside a string are text
    json_depth_check('["\\"[[[[", ' + nested(63)[1:-1] + "]")  # an escaped quote does not end the string
    with pytest.raises(JSONTooDeep, match="JSON nested deeper than 64 levels"):
        json_depth_check(nested(65))
    with pytest.raises(JSONTooDeep):
        json_depth_check('{"a":' * 65 + "1" + "}" * 65)


def test_json_loads_limited_refuses_deep_bodies_fast_and_parses_the_rest():
    started = time.monotonic()
    with pytest.raises(ValueError, match="deeper than 64"):
        json_loads_limited(DEEP.encode())
    assert time.monotonic() - started < 1
    assert json_loads_limited(b'{"findings": [[1, 2], {"x": "]]]"}]}') == {"findings": [[1, 2], {"x": "]]]"}]}
    assert json_loads_limited(nested(10), max_depth=10) == json.loads(nested(10))
    with pytest.raises(json.JSONDecodeError):
        json_loads_limited(b"[1,")


@pytest.mark.django_db
@pytest.mark.parametrize("method, path", [
    ("post", "/api/projects/lumbar/assignments/balanced/"),
    ("post", "/api/projects/lumbar/assignments/reassign/"),
    ("post", "/api/studies/"),
])
def test_deeply_nested_json_to_a_write_endpoint_is_400_and_changes_nothing(client, coordinator, project, method,
                                                                          path):
    client.force_login(coordinator)
    before = AuditEvent.objects.count()

    response = getattr(client, method)(path, DEEP, content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json() == {"detail": "JSON nested deeper than 64 levels"}
    assert AuditEvent.objects.count() == before


# Zip bombs -------------------------------------------------------------------------------------------------

def deflated_zip(members: int, member_bytes: int, declared_bytes: int | None = None) -> bytes:
    """A zip of `members` entries of `member_bytes` zeros, deflated once and repeated (zipfile would deflate
    each). `declared_bytes` makes the entries lie about their size."""
    zeros = bytes(member_bytes)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = compressor.compress(zeros) + compressor.flush()
    crc, size = zlib.crc32(zeros), member_bytes if declared_bytes is None else declared_bytes
    out, central = io.BytesIO(), []
    for i in range(members):
        name = f"IM{i:05d}.dcm".encode()
        offset = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(deflated), size,
                              len(name), 0) + name + deflated)
        central.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(deflated), size,
                                   len(name), 0, 0, 0, 0, 0, offset) + name)
    directory = b"".join(central)
    start = out.tell()
    out.write(directory + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, members, members, len(directory), start, 0))
    return out.getvalue()


def upload(client, user, *files):
    client.force_login(user)
    handles = []
    for name, content in files:
        handle = io.BytesIO(content)
        handle.name = name
        handles.append(handle)
    return client.post("/api/projects/lumbar/dicom/", {"files": handles})


@pytest.mark.django_db
def test_a_one_megabyte_zip_bomb_is_refused_before_it_is_inflated(client, coordinator, project, media_root):
    bomb = deflated_zip(members=15, member_bytes=64 * 1024 * 1024)  # 960 MiB of zeros, under every size cap
    assert len(bomb) < 1_100_000

    started = time.monotonic()
    response = upload(client, coordinator, ("study.zip", bomb))
    elapsed = time.monotonic() - started

    assert response.status_code == 413, response.content
    assert "refused as a zip bomb" in response.json()["errors"][0]["reason"]
    assert elapsed < 2, elapsed  # inflating it takes longer than that; nothing was
    assert Case.objects.count() == 0 and Instance.objects.count() == 0
    assert not Path(media_root).exists() or not any(Path(media_root).rglob("*.dcm"))


@pytest.mark.django_db
def test_a_zip_that_lies_about_its_sizes_is_read_no_further_than_declared(client, coordinator, project):
    liar = deflated_zip(members=2, member_bytes=64 * 1024 * 1024, declared_bytes=1000)

    started = time.monotonic()
    response = upload(client, coordinator, ("study.zip", liar))

    assert response.status_code == 400 and "corrupt zip entry" in response.json()["errors"][0]["reason"]
    assert time.monotonic() - started < 2
    assert Case.objects.count() == 0


@pytest.mark.django_db
def test_zip_with_too_many_files_is_refused(client, coordinator, project, settings):
    settings.DICOM_MAX_ZIP_MEMBERS = 3
    response = upload(client, coordinator, ("study.zip", deflated_zip(members=4, member_bytes=10)))
    assert response.status_code == 413
    assert "more than the limit of 3" in response.json()["errors"][0]["reason"]


@pytest.mark.django_db
def test_the_size_limit_holds_for_the_whole_upload_not_each_zip(client, coordinator, project, settings):
    settings.DICOM_MAX_UPLOAD_BYTES = 3000
    each = deflated_zip(members=1, member_bytes=2000)  # 2000 bytes each: under the limit alone, not together

    response = upload(client, coordinator, ("a.zip", each), ("b.zip", each))

    assert response.status_code == 413, response.content
    assert "more than 1000 bytes" in response.json()["errors"][0]["reason"]  # what was left of the 3000
    assert Case.objects.count() == 0


# The audit trail of log-ins ---------------------------------------------------------------------------------

@pytest.mark.django_db
def test_login_logout_and_failures_are_audited_without_the_password(client):
    alice = make_user("alice", Role.READER)

    client.post("/login/", {"username": "alice", "password": "secret-guess-1"})
    client.post("/login/", {"username": "nobody", "password": "secret-guess-2"})
    client.post("/login/", {"username": "alice", "password": "pw-alice"})
    client.post("/logout/")

    rows = list(AuditEvent.objects.filter(action__in=["login", "login_failed", "logout"])
                .values_list("action", "actor", "object_type", "object_id", "payload"))
    assert rows == [
        ("login_failed", None, "user", str(alice.pk), {"username": "alice", "ip": "127.0.0.1"}),
        ("login_failed", None, "user", "", {"username": "nobody", "ip": "127.0.0.1"}),
        ("login", alice.pk, "user", str(alice.pk), {"username": "alice", "ip": "127.0.0.1"}),
        ("logout", alice.pk, "user", str(alice.pk), {"username": "alice", "ip": "127.0.0.1"}),
    ]
    stored = json.dumps(list(AuditEvent.objects.values_list("payload", flat=True)))
    assert "secret-guess" not in stored and "pw-alice" not in stored


@pytest.mark.django_db
def test_failed_basic_auth_and_lockout_are_audited(client, coordinator):
    for i in range(5):
        client.get("/api/projects/", HTTP_AUTHORIZATION=basic("coord", f"wrong-{i}"), REMOTE_ADDR="10.9.8.7")

    rows = list(AuditEvent.objects.filter(action="login_failed").values_list("object_id", "payload"))
    assert len(rows) == 5 and {object_id for object_id, _ in rows} == {str(coordinator.pk)}
    assert rows[0][1] == {"username": "coord", "ip": "10.9.8.7"}
    assert rows[-1][1] == {"username": "coord", "ip": "10.9.8.7", "locked_out": True}
