#!/bin/sh
# The team's MLflow tracking server: runs and the model registry in PostgreSQL, artifacts proxied
# by the server to Azure Blob Storage (or a folder), users and permissions by MLflow's basic-auth
# app. The image's entry point (infra/mlflow/Dockerfile); the tests start the same script locally.
#
# Environment (the secrets come from Container App secrets, never from this repository):
#   MLFLOW_BACKEND_STORE_URI      postgresql://USER:PASSWORD@HOST:5432/mlflow?sslmode=require
#   MLFLOW_AUTH_DATABASE_URI      postgresql://USER:PASSWORD@HOST:5432/mlflow_auth?sslmode=require
#   MLFLOW_AUTH_ADMIN_PASSWORD    the admin user's password, set when the user store is created
#   MLFLOW_FLASK_SERVER_SECRET_KEY  signs the UI's CSRF tokens (a secret, the same on every replica)
#   MLFLOW_ARTIFACTS_DESTINATION  wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PATH, or a folder
#   MLFLOW_ALLOWED_HOSTS          the Host names the server answers (its public name in production)
#   MLFLOW_HOST, MLFLOW_PORT      default 0.0.0.0 and 5000
#   MLFLOW_WORKERS                default 2
# Blob credentials: AZURE_CLIENT_ID (a managed identity, production) or AZURE_STORAGE_CONNECTION_STRING.
set -eu
: "${MLFLOW_BACKEND_STORE_URI:?}" "${MLFLOW_AUTH_DATABASE_URI:?}" "${MLFLOW_ARTIFACTS_DESTINATION:?}"
: "${MLFLOW_AUTH_ADMIN_PASSWORD:?the admin password must be set (a secret)}" "${MLFLOW_FLASK_SERVER_SECRET_KEY:?}"
config="$(mktemp)"
# Every signed-in user may read; writing to an experiment or a model needs a grant (or admin).
cat > "$config" <<EOF
[mlflow]
default_permission = READ
database_uri = $MLFLOW_AUTH_DATABASE_URI
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
EOF
export MLFLOW_AUTH_CONFIG_PATH="$config" MLFLOW_DISABLE_TELEMETRY=true
exec mlflow server --app-name basic-auth \
  --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \
  --serve-artifacts --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION" \
  --host "${MLFLOW_HOST:-0.0.0.0}" --port "${MLFLOW_PORT:-5000}" --workers "${MLFLOW_WORKERS:-2}" \
  --allowed-hosts "${MLFLOW_ALLOWED_HOSTS:-localhost,127.0.0.1}"
