"""SpineRead settings, read from the environment in this one module (see .env.example).

With neither DATABASE_URL nor CELERY_BROKER_URL set, the app runs on a SQLite file with Celery tasks run in
process, so that a newcomer's `make demo` works on any machine. Production sets both (PostgreSQL, Redis).
"""
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SPINEREAD_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# A fixed key is only acceptable for the SQLite/in-process newcomer set-up; production must set SECRET_KEY.
SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-key-set-SECRET_KEY-in-production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "annotation",
    "mlbackend",
    "studies",
    "frontend",
    "fixtures.apps.FixturesConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "spineplatform.urls"
WSGI_APPLICATION = "spineplatform.wsgi.application"
ASGI_APPLICATION = "spineplatform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"  # never served publicly: DICOM goes through the authenticated endpoints only
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# DICOM ingest limits; a study is rarely more than a few hundred MB, a single MR slice rarely over 2 MB.
DICOM_MAX_FILE_BYTES = int(os.environ.get("DICOM_MAX_FILE_BYTES", 64 * 1024 * 1024))
DICOM_MAX_UPLOAD_BYTES = int(os.environ.get("DICOM_MAX_UPLOAD_BYTES", 1024 * 1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Called with case_ids= once an import that stored new images commits: the composition point between the case
# store and the ML backend (annotation imports no upper layer). Empty turns it off.
SPINEREAD_AFTER_IMPORT = os.environ.get("SPINEREAD_AFTER_IMPORT", "mlbackend.tasks.after_cases_imported")
# Keys the stable pseudonymous patient key and the de-identification's UID/date mapping. Changing it breaks
# idempotency of re-imports, so it is separate from SECRET_KEY and must be kept with the database.
DEID_SALT = os.environ.get("DEID_SALT", "spineread-dev-deid-salt")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SpineRead API",
    "DESCRIPTION": "Lumbar spine MRI reading, adjudication, ML pre-annotation and reader studies.",
    "VERSION": "0.1.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "annotation.models.Case.Status",
        "ReadStatusEnum": "annotation.models.Read.Status",
        "AdjudicationStatusEnum": "annotation.models.Adjudication.Status",
    },
}

# Celery: with no broker configured, tasks run in process (the newcomer's default).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL or None)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Training goes to the `gpu` queue (workers on GPU machines: `-Q gpu`) when ML_TRAIN_QUEUE says so or this host
# sees CUDA; otherwise to the default queue. Per-project schedules are PeriodicTask rows (django-celery-beat).
ML_TRAIN_QUEUE = os.environ.get("ML_TRAIN_QUEUE", "")
CELERY_TASK_ROUTES = {"mlbackend.training_run": {"queue": ML_TRAIN_QUEUE or "celery"}}
CELERY_BEAT_SCHEDULE = {
    "mlbackend-retrain-check": {"task": "mlbackend.retrain_check", "schedule": 300.0},
}
# Label Studio ML-backend protocol (/ml/*): with ML_BACKEND_TOKEN set, requests must carry it
# (Authorization: Token <it> or Bearer <it>); image URLs are fetched only from LABEL_STUDIO_URL's host, the
# hostname Label Studio gave in /ml/setup, and ML_ALLOWED_IMAGE_HOSTS.
ML_BACKEND_TOKEN = os.environ.get("ML_BACKEND_TOKEN", "")
LABEL_STUDIO_URL = os.environ.get("LABEL_STUDIO_URL", "")
LABEL_STUDIO_API_KEY = os.environ.get("LABEL_STUDIO_API_KEY", "")
ML_ALLOWED_IMAGE_HOSTS = env_list("ML_ALLOWED_IMAGE_HOSTS", "")
ML_IMAGE_MAX_BYTES = int(os.environ.get("ML_IMAGE_MAX_BYTES", 32 * 1024 * 1024))
ML_DEFAULT_PROJECT = os.environ.get("ML_DEFAULT_PROJECT", "")  # SpineRead project for unmapped LS projects

# Ultralytics must never reach the network: its settings folder lives in the project, offline, no autoinstall.
YOLO_CONFIG_DIR = Path(os.environ.get("YOLO_CONFIG_DIR", VAR_DIR / "ultralytics"))
os.environ.setdefault("YOLO_CONFIG_DIR", str(YOLO_CONFIG_DIR))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

VAR_DIR.mkdir(parents=True, exist_ok=True)
