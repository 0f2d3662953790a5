#!/bin/sh
# minio-init (docker-compose.yml): SpineRead's private bucket, and its own access key, allowed that bucket only,
# so that the root credentials stay with the operator. Run on every `up`: each step leaves what exists as it is,
# and a changed S3_SECRET_ACCESS_KEY is applied.
set -eu
: "${S3_BUCKET:?set S3_BUCKET in .env}" "${S3_ACCESS_KEY_ID:?}" "${S3_SECRET_ACCESS_KEY:?}"
mc alias set store http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "store/$S3_BUCKET"
mc anonymous set none "store/$S3_BUCKET"
cat >/tmp/spineread-policy.json <<POLICY
{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
   "Resource": ["arn:aws:s3:::$S3_BUCKET"]},
  {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                                 "s3:ListMultipartUploadParts"],
   "Resource": ["arn:aws:s3:::$S3_BUCKET/*"]}]}
POLICY
mc admin policy create store spineread /tmp/spineread-policy.json
mc admin user add store "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY"
if ! mc admin user info store "$S3_ACCESS_KEY_ID" --json | grep -Eq '"policyName": ?"([^"]*,)?spineread[,"]'; then
  mc admin policy attach store spineread --user "$S3_ACCESS_KEY_ID"
fi
echo "bucket $S3_BUCKET ready for $S3_ACCESS_KEY_ID"
