#!/usr/bin/env bash
# Run the product locally, with the embedded models and no cloud account:
# the advanced custom model on http://127.0.0.1:3000/api/... and MiniLM on http://127.0.0.1:3001/api/bert/...,
# and the feedback API on http://127.0.0.1:8081/api/feedback (SQLite in $MOODWING_CACHE; App Insights
# only if APPLICATIONINSIGHTS_CONNECTION_STRING is set)
# (`spin up` serves both on one port where the Spin CLI is installed.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
LSTM_PORT="${MOODWING_LSTM_PORT:-3000}"
BERT_PORT="${MOODWING_BERT_PORT:-3001}"

stage "tools" rust_tools
stage "build components" ./scripts/build-components.sh lstm bert
stage "build cloud-api" cargo build --release --locked -p moodwing-cloud-api

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT INT TERM
"$WASMTIME" serve --addr "127.0.0.1:$LSTM_PORT" -S cli=y target/components/sentiment-lstm.wasm & pids+=($!)
"$WASMTIME" serve --addr "127.0.0.1:$BERT_PORT" -S cli=y target/components/sentiment-bert.wasm & pids+=($!)
mkdir -p "$MOODWING_CACHE"
MOODWING_FEEDBACK_DB="${MOODWING_FEEDBACK_DB:-$MOODWING_CACHE/feedback.sqlite}" \
  target/release/moodwing-cloud-api & pids+=($!)

cat <<INFO

Moodwing is running:
  advanced custom model  http://127.0.0.1:$LSTM_PORT/api/predict       (model: GET /api/model)
  BERT-family model      http://127.0.0.1:$BERT_PORT/api/bert/predict  (model: GET /api/bert/model)
  feedback API           http://${MOODWING_CLOUD_API_ADDR:-127.0.0.1:8081}/api/feedback  (stats: GET /api/feedback/stats)

Try:
  curl -s -H 'content-type: application/json' -d '{"text": "@united lost my bag again"}' http://127.0.0.1:$LSTM_PORT/api/predict

Ctrl-C stops them all.
INFO
wait
