"""SpineRead settings, read from the environment in this one module (see .env.example).

With neither DATABASE_URL nor CELERY_BROKER_URL set, the app runs on a SQLite file with Celery tasks run in
process, so that a newcomer's `make demo` works on any machine. Production sets both (PostgreSQL, Redis).
SECRET_KEY and DEID_SALT are then required: with DATABASE_URL naming a database server and DEBUG off, the
settings refuse to load without them, and with DEBUG off they never accept a value published in this repository.
The SQLite set-up makes up its own and keeps them in var/. The HTTPS settings are off unless the environment
turns them on (`make demo` serves plain http on localhost); `manage.py check --deploy` lists what is missing.
"""
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE, WASM_UNSAFE_EVAL
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SPINEREAD_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


DEBUG = env_bool("DEBUG", False)
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = os.environ.get("DATABASE_URL", "")
# A database server (PostgreSQL) means a shared, production-like install; a SQLite file is one person's machine.
SERVER_DATABASE = bool(DATABASE_URL) and not DATABASE_URL.startswith("sqlite")

# Values published in this repository (old defaults, .env.example placeholders): never secret.
PUBLISHED_SECRETS = frozenset({
    "dev-only-insecure-key-set-SECRET_KEY-in-production",
    "spineread-dev-deid-salt",
})


def _local_secret(path: Path) -> str:
    """A random value made once for this machine's SQLite set-up and kept in var/ (mode 0600).

    Written under a temporary name and hard-linked into place, so that two processes starting together (the
    demo server and its first request, a test run and a worker) end up with the same value.
    """
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(50))
    try:
        os.link(scratch, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    return path.read_text().strip()


def _secret(name: str, file_name: str) -> tuple[str, str]:
    """(value, where it came from): the environment, or var/<file_name> for a SQLite newcomer set-up.

    With DEBUG off, a published value is refused; so is an unset one on a database server, where a value made
    up on one host would differ from the next host's (DEID_SALT must be the same for every web and worker
    process, and for ever).
    """
    value = os.environ.get(name, "").strip()
    if value and not DEBUG and (value in PUBLISHED_SECRETS or value.upper().startswith("CHANGE-ME")):
        raise ImproperlyConfigured(f"{name} is set to a value published with SpineRead; set a secret one "
                                   f"(see .env.example)")
    if value:
        return value, "environment"
    if SERVER_DATABASE and not DEBUG:
        raise ImproperlyConfigured(f"{name} must be set when DATABASE_URL names a database server and DEBUG "
                                   f"is off (see .env.example)")
    return _local_secret(VAR_DIR / file_name), str(VAR_DIR / file_name)


SECRET_KEY, SECRET_KEY_SOURCE = _secret("SECRET_KEY", "secret_key")
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
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "csp",
    "annotation",
    "interchange",
    "mlbackend",
    "studies",
    "interop",
    "frontend",
    "fixtures.apps.FixturesConfig",
    "spineplatform.apps.SpinePlatformConfig",
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
    "spineplatform.content_security.SpineReadCSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out log-in into its response.
    "axes.middleware.AxesMiddleware",
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
        DATABASE_URL or f"sqlite:///{VAR_DIR / 'db.sqlite3'}", conn_max_age=60,
        # A kept connection is checked before a request reuses it: after a PostgreSQL restart (or a failover)
        # the next request reconnects instead of failing on the dead connection.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The newcomer's SQLite: a writer takes the lock when its transaction begins and others wait for it, instead of
    # failing halfway ("database is locked") when a reader's submit meets the viewer's image-access log writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(transaction_mode="IMMEDIATE", timeout=20)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# django-axes first: it refuses a locked-out username+address before any password is checked, for the log-in
# page and for HTTP Basic on the API alike (both call authenticate(request=...)).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # log-ins are in the audit trail (annotation.auth_audit); failures stay counted
AXES_VERBOSE = False  # its start-up banner and per-request log lines drown the logs; the audit trail has log-ins
AXES_LOCKOUT_CALLABLE = "spineplatform.lockout.lockout_response"
# Behind N reverse proxies every request comes from the last proxy's address: with TRUSTED_PROXY_COUNT=N, the
# client is the N-th X-Forwarded-For entry from the right (each proxy appends the address it was called from),
# for the lockout, the audit trail and the API throttle alike.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "spineplatform.lockout.client_address"

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


def s3_storage(environ) -> dict | None:
    """The default storage on an S3-protocol store (AWS S3, MinIO, Ceph) when `environ` names S3_BUCKET, else
    None. Every stored file (DICOM, model weights, partial uploads) is then an object in that bucket, so web and
    workers on several hosts share them; without it they lie under MEDIA_ROOT, on one host."""
    if not environ.get("S3_BUCKET"):
        return None
    endpoint = environ.get("S3_ENDPOINT_URL") or None
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": environ["S3_BUCKET"], "endpoint_url": endpoint,
        "access_key": environ.get("S3_ACCESS_KEY_ID") or None,
        "secret_key": environ.get("S3_SECRET_ACCESS_KEY") or None,
        "region_name": environ.get("S3_REGION", "us-east-1"), "signature_version": "s3v4",
        # A host of our own (MinIO, a test server) has no per-bucket DNS names.
        "addressing_style": "path" if endpoint else None,
        # As on the filesystem: saving under a taken name picks a free one (ingest and the registry rely on
        # names never being overwritten silently). The bucket stays private: nothing is served by URL.
        "file_overwrite": False, "default_acl": None, "querystring_auth": True,
        # An object opened for reading is held in memory up to this size, then in a temporary file: model
        # weights and whole uploads may be far larger than a DICOM slice (the default 0 never spills).
        "max_memory_size": 16 * 1024 * 1024,
    }}


if s3_storage(os.environ):
    STORAGES["default"] = s3_storage(os.environ)
# Model weights kept in object storage are downloaded once per host into this folder (checked against their
# sha256 on every use); on a filesystem storage the registry's own file is used.
ML_MODEL_CACHE_DIR = Path(os.environ.get("ML_MODEL_CACHE_DIR", VAR_DIR / "model-cache"))

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
DEID_SALT, DEID_SALT_SOURCE = _secret("DEID_SALT", "deid_salt")
# A zip whose members would inflate to more than this many times its own size is refused before inflating
# anything (a zip bomb), once it would unpack to more than DICOM_ZIP_RATIO_FLOOR_BYTES. Real studies deflate
# to a few times smaller; blank padding slices can do more, hence a ratio on the whole archive.
DICOM_MAX_ZIP_RATIO = env_int("DICOM_MAX_ZIP_RATIO", 100)
DICOM_ZIP_RATIO_FLOOR_BYTES = env_int("DICOM_ZIP_RATIO_FLOOR_BYTES", 32 * 1024 * 1024)
DICOM_MAX_ZIP_MEMBERS = env_int("DICOM_MAX_ZIP_MEMBERS", 20000)

# Personal API tokens (spineplatform.tokens): sent as "Bearer", kept as digests, expiring.
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": timedelta(days=env_int("API_TOKEN_DAYS", 30)),
    "TOKEN_LIMIT_PER_USER": env_int("API_TOKENS_PER_USER", 10),
    "TOKEN_PREFIX": "sr_",
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "spineplatform.lockout.LockoutAwareBasicAuthentication",
        "knox.auth.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON nested deeper than JSON_MAX_DEPTH is refused before it is parsed (json.loads recurses).
    "DEFAULT_PARSER_CLASSES": [
        "spineplatform.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Generous: a reader's viewer fetches every slice of a series through the API. Counted in the cache.
    "DEFAULT_THROTTLE_CLASSES": [
        # DRF's AnonRateThrottle and UserRateThrottle, letting requests through while Redis is down.
        "spineplatform.throttles.AnonThrottle",
        "spineplatform.throttles.UserThrottle",
    ],
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_THROTTLE_ANON", "60/min"),
        "user": os.environ.get("API_THROTTLE_USER", "2000/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", 64)

# The cache holds the API throttle counts: per process unless CACHE_URL names a shared Redis.
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {
    # Short socket timeouts: a Redis host that is gone costs a request a second, not a hang (spineplatform.throttles).
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL,
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}
    if CACHE_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "spineread"}
}

SPECTACULAR_SETTINGS = {
    # The schema and its docs list every route: for signed-in users only, like the API itself.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
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
        # Two role fields with different choices: a role on a project, and a role on a case.
        "ProjectRoleEnum": "annotation.services.projects.ROLE_CHOICES",
        "CaseRoleEnum": ["reader", "senior"],
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
# Model work (pre-annotation, /ml/predict, training) goes to the `gpu` queue while a worker started with `-Q gpu`
# announces itself, else to the default `celery` queue (mlbackend.routing). ML_QUEUE fixes the queue of all model
# work, ML_TRAIN_QUEUE that of training. Per-project schedules are PeriodicTask rows (django-celery-beat).
ML_QUEUE = os.environ.get("ML_QUEUE", "")
ML_TRAIN_QUEUE = os.environ.get("ML_TRAIN_QUEUE", "")
CELERY_TASK_ROUTES = ("mlbackend.routing.route_task",)
# With a broker, /ml/predict runs on a worker and waits this long for it (Label Studio waits 100 s by default);
# then it answers 503 with Retry-After, and the prediction, expired, is dropped by the worker that finds it.
ML_PREDICT_TIMEOUT = env_int("ML_PREDICT_TIMEOUT", 30)
CELERY_BEAT_SCHEDULE = {
    "mlbackend-retrain-check": {"task": "mlbackend.retrain_check", "schedule": 300.0},
    "annotation-uploads-sweep": {"task": "annotation.uploads_sweep", "schedule": 3600.0},
    # Tasks whose work was saved while the broker was down (annotation.outbox) are sent once it is back.
    "annotation-outbox-relay": {"task": "annotation.outbox_relay", "schedule": 30.0},
}
# With acks_late (above) Redis redelivers a task its worker has not acknowledged within the visibility timeout,
# to another worker, even while the first still runs it: the timeout must outlast the longest task (a project's
# pre-annotation after a promotion; trainings are acknowledged on receipt, see mlbackend.tasks). 12 h default.
# A worker killed mid-task has its task redelivered after this long (sooner on a clean worker shutdown).
# A broker host that is gone is given up on after 2 s (the outbox keeps the task), not waited on.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 12 * 3600),
                                   "socket_connect_timeout": 2}
# A chunked upload that no chunk has reached for this long is given up and its temporary file deleted.
UPLOAD_ABANDONED_HOURS = env_int("UPLOAD_ABANDONED_HOURS", 24)
# Label Studio ML-backend protocol (/ml/*): Label Studio logs in as the project's ML client account (HTTP Basic;
# `manage.py ml_client`). Image URLs are fetched only from LABEL_STUDIO_URL's host, the hostname Label Studio gave
# in /ml/setup, and ML_ALLOWED_IMAGE_HOSTS, within the byte and pixel caps.
LABEL_STUDIO_URL = os.environ.get("LABEL_STUDIO_URL", "")
LABEL_STUDIO_API_KEY = os.environ.get("LABEL_STUDIO_API_KEY", "")
ML_ALLOWED_IMAGE_HOSTS = env_list("ML_ALLOWED_IMAGE_HOSTS", "")
ML_IMAGE_MAX_BYTES = int(os.environ.get("ML_IMAGE_MAX_BYTES", 32 * 1024 * 1024))
ML_IMAGE_MAX_PIXELS = env_int("ML_IMAGE_MAX_PIXELS", 50_000_000)

# Ultralytics must never reach the network: its settings folder lives in the project, offline, no autoinstall.
YOLO_CONFIG_DIR = Path(os.environ.get("YOLO_CONFIG_DIR", VAR_DIR / "ultralytics"))
os.environ.setdefault("YOLO_CONFIG_DIR", str(YOLO_CONFIG_DIR))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")

# HTTPS and browser protections. Off by default so that `make demo` works over plain http on localhost; a
# production install behind TLS sets them (see .env.example; `manage.py check --deploy` is then clean).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^api/health$"]  # load balancers probe over plain http, inside the network
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Only behind a proxy that sets this header itself (and strips it from clients): e.g. HTTP_X_FORWARDED_PROTO.
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (os.environ["SECURE_PROXY_SSL_HEADER"], "https")
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # api.js reads the csrftoken cookie for its JSON writes
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = os.environ.get("SECURE_REFERRER_POLICY", "same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Pages load scripts from /static/ only; an inline <script> needs nonce="{{ request.csp_nonce }}" (page data
# goes in json_script blocks, which are not executed). The DICOM decoder runs WebAssembly in a web worker; the
# viewer's pages also get 'unsafe-eval' for its codecs (spineplatform.content_security).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, WASM_UNSAFE_EVAL, NONCE],
        "worker-src": [SELF, "blob:"],
        "style-src": [SELF, UNSAFE_INLINE],  # style="" attributes in the templates and the viewer's canvas
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

