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
    call "$base/api/bert/health"
    ;;
  feedback)
    call "$base/api/health"
    call "$base/api/feedback/stats" | head -c 300; echo
    ;;
  *) echo "usage: $0 predict|feedback BASE_URL" >&2; exit 2 ;;
esac
echo "smoke test of $kind at $base: ok"
