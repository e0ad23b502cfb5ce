#!/usr/bin/env bash
# Retakes the docs' screenshots in headless Chromium (the SPA's come from the browser test):
#   docs/screenshots/mlflow/   the MLflow UI on training/mlflow.db (runs, comparison, registry), and
#                              the team's server with the committed bundles registered
#   docs/screenshots/terminal/ a test run, and the cloud-api's alert firing on 3 rejections
# Needs a trained training/mlflow.db, the venv, node_modules and Chromium (scripts/test.sh installs them).
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"
out=docs/screenshots
mkdir -p "$out/mlflow" "$out/terminal"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
wait_for() { # wait_for URL: until it answers (60 s)
  for _ in $(seq 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$1 did not answer" >&2; return 1
}
terminal_shot() { # terminal_shot NAME TITLE < transcript
  "$VENV/bin/python" docs/tools/terminal.py "$2" > "target/$1.html"
  node docs/tools/screenshot.mjs "$out/terminal/$1.png" "file://$ROOT/target/$1.html" "" 1100 700
}

echo "==> MLflow UI"
[[ -f training/mlflow.db ]] || { echo "training/mlflow.db is missing: train first (README, Training)" >&2; exit 1; }
(cd training && exec "$VENV/bin/mlflow" ui --backend-store-uri sqlite:///mlflow.db \
  --default-artifact-root ./mlartifacts --host 127.0.0.1 --port 5055) >/dev/null 2>&1 & pids+=($!)
wait_for http://127.0.0.1:5055/health
node docs/tools/mlflow-screenshots.mjs http://127.0.0.1:5055 "$out/mlflow"

echo "==> the team's registry (a real MLflow server: PostgreSQL, Azurite, basic-auth)"
postgres_server >/dev/null
MOODWING_REGISTRY_SCREENSHOT="$ROOT/$out/mlflow/06-team-registry.png" \
  "$VENV/bin/python" -m pytest training/tests/test_registry.py -q -k committed_bundles

echo "==> a test run"
cargo test -p moodwing-cloud-api --locked --test feedback_api --test faults 2>&1 | grep -E "^(running|test |test result)" \
  | terminal_shot 01-cloud-api-tests "cargo test -p moodwing-cloud-api (feedback API, outbox and SIGKILL fault tests)"

echo "==> the alert"
cargo build --release --locked -p moodwing-cloud-api
db="$(mktemp -d)/feedback.sqlite"
log="$(mktemp)"
MOODWING_CLOUD_API_ADDR=127.0.0.1:8091 MOODWING_FEEDBACK_DB="$db" RUST_LOG=info NO_COLOR=1 \
  target/release/moodwing-cloud-api >"$log" 2>&1 & pids+=($!)
wait_for http://127.0.0.1:8091/api/health
{
  for tweet in "@AirParadis great, another delay" "@AirParadis lovely, my bag is in Rome" "@AirParadis thanks for nothing"; do
    body="{\"verdict\": \"rejection\", \"text\": \"$tweet\", \"predicted_label\": \"positive\", \"score\": 0.71, \"model\": {\"name\": \"moodwing-lstm\", \"version\": \"1\"}, \"corrected_label\": \"negative\", \"comment\": \"sarcasm\"}"
    echo "\$ curl -d '{\"verdict\": \"rejection\", \"text\": \"$tweet\", ...}' /api/feedback"
    curl -s -H 'content-type: application/json' -d "$body" http://127.0.0.1:8091/api/feedback; echo
  done
  echo; echo "\$ curl /api/feedback/stats"
  curl -s http://127.0.0.1:8091/api/feedback/stats | "$VENV/bin/python" -m json.tool
  echo; echo "cloud-api log:"; cat "$log"
} | terminal_shot 02-alert-fires "3 rejections within 5 minutes: the cloud-api's local alert rule fires"
echo "screenshots in $out"
