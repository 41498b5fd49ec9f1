#!/bin/sh
# Run in chrislusf/seaweedfs: write the S3 identity from the environment (no credentials live in the
# repository) and start the server. The identity reaches msm's bucket and nothing else: Admin on that
# bucket lets the s3-init service create it, and no other bucket can be created or read with it.
set -eu
: "${MSM_S3_ACCESS_KEY:?set MSM_S3_ACCESS_KEY (see docs/deploying.md)}"
: "${MSM_S3_SECRET_KEY:?set MSM_S3_SECRET_KEY (see docs/deploying.md)}"
bucket="${MSM_S3_BUCKET:-msm}"
# Written into JSON below unquoted by any tool, so only characters that need no escaping.
for value in "$MSM_S3_ACCESS_KEY" "$MSM_S3_SECRET_KEY" "$bucket"; do
  case "$value" in
  *[!A-Za-z0-9._+/=-]*)
    echo "MSM_S3_ACCESS_KEY, MSM_S3_SECRET_KEY and MSM_S3_BUCKET may hold only letters, digits and . _ + / = -" >&2
    exit 2
    ;;
  esac
done
if [ "${#MSM_S3_SECRET_KEY}" -lt 16 ]; then
  echo "MSM_S3_SECRET_KEY is shorter than 16 characters: use e.g. openssl rand -hex 24" >&2
  exit 2
fi
config="${MSM_S3_CONFIG:-/tmp/msm-s3.json}"
umask 077
cat >"$config" <<JSON
{
  "identities": [
    {
      "name": "msm",
      "credentials": [{ "accessKey": "$MSM_S3_ACCESS_KEY", "secretKey": "$MSM_S3_SECRET_KEY" }],
      "actions": ["Admin:$bucket", "Read:$bucket", "Write:$bucket", "List:$bucket", "Tagging:$bucket"]
    }
  ]
}
JSON
exec weed server -s3 -dir="${MSM_S3_DATA_DIR:-/data}" -s3.config="$config" "$@"
