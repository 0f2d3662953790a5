"""s3_storage(environ): the filesystem unless S3_BUCKET is set, then django-storages' S3 backend with the
options ingest and the registry rely on (no silent overwrite, a private bucket)."""
from spineplatform.settings import s3_storage


def test_without_s3_bucket_the_filesystem_storage_is_kept():
    assert s3_storage({}) is None
    assert s3_storage({"S3_BUCKET": "", "S3_ENDPOINT_URL": "http://minio:9000", "S3_ACCESS_KEY_ID": "k"}) is None


def test_a_store_of_our_own_gets_its_endpoint_keys_and_path_style_addressing():
    storage = s3_storage({"S3_BUCKET": "spineread", "S3_ENDPOINT_URL": "http://minio.internal:9000",
                          "S3_ACCESS_KEY_ID": "reader-key", "S3_SECRET_ACCESS_KEY": "secret", "S3_REGION": "eu-west-2"})

    assert storage == {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": "spineread", "endpoint_url": "http://minio.internal:9000", "access_key": "reader-key",
        "secret_key": "secret", "region_name": "eu-west-2", "signature_version": "s3v4", "addressing_style": "path",
        "file_overwrite": False, "default_acl": None, "querystring_auth": True, "max_memory_size": 16 * 1024 * 1024}}


def test_aws_itself_needs_the_bucket_only():
    # No keys: boto3 finds the host's own credentials (an instance role, AWS_* variables).
    options = s3_storage({"S3_BUCKET": "spineread", "S3_ENDPOINT_URL": "", "S3_ACCESS_KEY_ID": ""})["OPTIONS"]

    assert (options["endpoint_url"], options["access_key"], options["secret_key"]) == (None, None, None)
    assert (options["region_name"], options["addressing_style"], options["file_overwrite"]) == ("us-east-1", None,
                                                                                                  False)


def test_the_options_make_a_working_storage_backend(settings):
    from django.core.files.storage import storages

    settings.STORAGES = {**settings.STORAGES, "default": s3_storage({"S3_BUCKET": "spineread",
                                                                     "S3_ENDPOINT_URL": "http://127.0.0.1:9"})}
    backend = storages["default"]  # built without a connection: nothing is reached here

    assert type(backend).__name__ == "S3Storage"
    assert (backend.bucket_name, backend.file_overwrite, backend.endpoint_url) == ("spineread", False,
                                                                                   "http://127.0.0.1:9")
