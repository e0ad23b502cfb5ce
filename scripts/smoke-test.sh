#!/usr/bin/env bash
# Smoke test of a deployed service. Usage: smoke-test.sh predict|feedback BASE_URL
# Fails unless the service answers its health route and one real request as the page would.
set -euo pipefail
kind="$1" base="${2%/}"
call() { curl --fail-with-body --silent --show-error --retry 5 --retry-all-errors --max-time 30 "$@"; echo; }
case "$kind" in
  predict)
    call "$base/api/health"
    call "$base/api/model" | head -c 300; echo
    answer="$(call -H 'content-type: application/json' -d '{"text": "@AirParadis lost my bag again"}' "$base/api/predict")"
    echo "$answer"
    grep -q '"label":"negative"' <<<"$answer"
    grep -q '"signature":"[0-9a-f]\{64\}"' <<<"$answer" || { echo "the prediction is not signed: is signing_key set?" >&2; exit 1; }
    call "$base/api/bert/health"
    ;;
  feedback)
    call "$base/api/health"
    call "$base/api/feedback/stats" | head -c 300; echo
    # An unsigned feedback must be refused: the service checks signatures.
    status="$(curl --silent --output /dev/null --write-out '%{http_code}' -H 'content-type: application/json' \
      -d '{"id": "6b1e2f0a-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "verdict": "rejection", "text": "smoke test",
           "predicted_label": "positive", "score": 0.9, "model": {"name": "smoke", "version": "0"}}' \
      "$base/api/feedback")"
    [[ $status == 403 ]] || { echo "an unsigned feedback got $status, not 403" >&2; exit 1; }
    ;;
  *) echo "usage: $0 predict|feedback BASE_URL" >&2; exit 2 ;;
esac
echo "smoke test of $kind at $base: ok"
