import pytest
from django.db import transaction
from django.test import override_settings

from studies import selectors
from studies.dashboard import study_dashboard
from tests.studies.simulated_study import build_study


@pytest.fixture(scope="package")
def dashboard_and_sim(django_db_setup, django_db_blocker):
    """The simulated study's dashboard (20 cases, both arms, a quarter repeated, the model) and the simulation.

    Built once for the package and rolled back at once (pytest-django's django_db_blocker): the tests only read
    the dashboard's plain dicts and the simulation's values, so they share one build."""
    with django_db_blocker.unblock(), override_settings(
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]), transaction.atomic():
        study, sim = build_study()
        dashboard = study_dashboard(selectors.study_data(study))
        transaction.set_rollback(True)
    return dashboard, sim
