"""PostgreSQL drops every connection (a restart, a failover): the web process's next request reconnects.

The server keeps its connection between requests (CONN_MAX_AGE); CONN_HEALTH_CHECKS has it checked before a
request reuses it. The real PostgreSQL service is shared, so its restart is stood for by terminating the web
process's backends (named by PGAPPNAME), which is what a restart does to them; the test process's own
connections (live server threads of earlier tests) are left alone, as later tests still use them.
"""
import pytest
import requests
from django.db import connection

from tests.faults.conftest import WEB_APP_NAME, bearer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _terminate_web_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND application_name = %s", [WEB_APP_NAME])
        return cursor.fetchone()[0]


def test_the_web_process_answers_the_first_request_after_its_database_connections_are_killed(
        web_server, project, coordinator):
    base = web_server()
    headers = bearer(coordinator)
    assert requests.get(f"{base}/api/projects/", headers=headers, timeout=30).status_code == 200

    for _ in range(3):
        assert _terminate_web_backends() >= 1  # the server's kept connection
        answers = [requests.get(f"{base}/api/projects/", headers=headers, timeout=30) for _ in range(3)]
        assert [answer.status_code for answer in answers] == [200, 200, 200]
        assert [row["slug"] for row in answers[0].json()] == ["lumbar"]
