#!/usr/bin/env bash
# Run the product locally, with the embedded models and no cloud account: the web page on
# http://127.0.0.1:8080, the advanced custom model on http://127.0.0.1:3000/api/... and MiniLM on http://127.0.0.1:3001/api/bert/...,
# the feedback API on http://127.0.0.1:8081/api/feedback (SQLite in $MOODWING_CACHE; App Insights
# only if APPLICATIONINSIGHTS_CONNECTION_STRING is set), and the MLflow UI on http://127.0.0.1:5000 with
# the served models registered (the embedded store, training/mlflow.db; or the team's server when
# MLFLOW_TRACKING_URI names one)
# (`spin up` serves both on one port where the Spin CLI is installed.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
LSTM_PORT="${MOODWING_LSTM_PORT:-3000}"
BERT_PORT="${MOODWING_BERT_PORT:-3001}"
WEB_PORT="${MOODWING_WEB_PORT:-8080}"
FEEDBACK_ADDR="${MOODWING_CLOUD_API_ADDR:-127.0.0.1:8081}"
MLFLOW_PORT="${MOODWING_MLFLOW_PORT:-5000}"

stage "python" python_env
# The embedded registry holds what is served: the committed bundles, registered once, alias champion.
[[ -n ${MLFLOW_TRACKING_URI:-} ]] || stage "model registry" "$VENV/bin/python" -m moodwing_training.registry seed
stage "tools" rust_tools
stage "build components" ./scripts/build-components.sh lstm bert
stage "build cloud-api and radar" cargo build --release --locked -p moodwing-cloud-api -p moodwing-radar
stage "web tools" web_tools
stage "build web-ui" build_web_ui

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT INT TERM
# Predictions are signed and feedback is checked as in production, with a key made for this run;
# the operator token (export, monitor page, radar reports) is made for this run too.
signing_key="$(random_secret)"
operator_token="${MOODWING_OPERATOR_TOKEN:-$(random_secret)}"
serve() { # the component as Spin runs it: a fresh instance per request, its signing_key variable set
  "$WASMTIME" serve --addr "127.0.0.1:$1" --max-instance-reuse-count 1 -S cli=y \
    -S config -S "config-var=signing_key=$signing_key" "target/components/local/sentiment-$2.wasm"
}
serve "$LSTM_PORT" lstm & pids+=($!)
serve "$BERT_PORT" bert & pids+=($!)
mkdir -p "$MOODWING_CACHE"
MOODWING_SIGNING_KEY="$signing_key" MOODWING_OPERATOR_TOKEN="$operator_token" \
  MOODWING_CLOUD_API_ADDR="$FEEDBACK_ADDR" \
  MOODWING_ALLOWED_ORIGINS="${MOODWING_ALLOWED_ORIGINS:-http://127.0.0.1:$WEB_PORT,http://localhost:$WEB_PORT}" \
  MOODWING_FEEDBACK_DB="${MOODWING_FEEDBACK_DB:-$MOODWING_CACHE/feedback.sqlite}" \
  target/release/moodwing-cloud-api & pids+=($!)
# The page reads its API addresses from config.json beside it.
printf '{"predict_api": "http://127.0.0.1:%s/api", "feedback_api": "http://%s/api"}\n' \
  "$LSTM_PORT" "$FEEDBACK_ADDR" > web-ui/dist/config.json
python3 scripts/serve_spa.py web-ui/dist "$WEB_PORT" & pids+=($!)
if [[ -n ${MLFLOW_TRACKING_URI:-} ]]; then
  mlflow_ui="$MLFLOW_TRACKING_URI (the team's server)"
else
  MLFLOW_DISABLE_TELEMETRY=true "$VENV/bin/mlflow" server --backend-store-uri "sqlite:///$ROOT/training/mlflow.db" \
    --artifacts-destination "$ROOT/training/mlartifacts" --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
    >"$MOODWING_CACHE/mlflow-server.log" 2>&1 & pids+=($!)
  mlflow_ui="http://127.0.0.1:$MLFLOW_PORT  (Models: moodwing-lstm, moodwing-bert @champion)"
fi

cat <<INFO

Moodwing is running. Open http://127.0.0.1:$WEB_PORT in a browser.
  web page               http://127.0.0.1:$WEB_PORT
  advanced custom model  http://127.0.0.1:$LSTM_PORT/api/predict       (model: GET /api/model)
  BERT-family model      http://127.0.0.1:$BERT_PORT/api/bert/predict  (model: GET /api/bert/model)
  feedback API           http://$FEEDBACK_ADDR/api/feedback  (stats: GET /api/feedback/stats)
  monitor page           http://127.0.0.1:$WEB_PORT/monitor  (operator token: $operator_token)
  MLflow UI              $mlflow_ui

Try:
  curl -s -H 'content-type: application/json' -d '{"text": "@united lost my bag again"}' http://127.0.0.1:$LSTM_PORT/api/predict
  MOODWING_OPERATOR_TOKEN=$operator_token target/release/moodwing radar tweets.ndjson --report-to http://$FEEDBACK_ADDR/api

Ctrl-C stops them all.
INFO
wait
