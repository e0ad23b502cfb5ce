#!/usr/bin/env bash
# The on-device first prediction of this tree's site against another revision's, in turns in one
# run (bench/ondevice_turns.mjs): what a change to the page, the worker or the edge core did to a
# first visit and a later one. The other revision is built in a git worktree that shares this
# tree's target folder, so only what differs is rebuilt.
# Usage: bench/ondevice_turns.sh REFERENCE_REVISION [PROFILES (6)]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
reference="${1:?usage: bench/ondevice_turns.sh REFERENCE_REVISION [PROFILES]}"
profiles="${2:-6}"
stage "tools" rust_tools
stage "web tools" web_tools
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; git worktree remove --force "$work/reference" 2>/dev/null || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/reference" "$reference"
ln -s "$ROOT/target" "$work/reference/target"
stage "build web-ui ($reference)" bash -c "cd '$work/reference' && source scripts/lib.sh && build_web_ui"
cp -r "$work/reference/web-ui/dist" "$work/reference-site"
stage "build web-ui (this tree)" build_web_ui
cp -r web-ui/dist "$work/changed-site"
urls=()
for site in reference-site changed-site; do
  port="$(free_port)"
  python3 scripts/serve_spa.py "$work/$site" "$port" & pids+=($!)
  urls+=("http://127.0.0.1:$port")
done
wait_for_urls "${urls[@]/%//}"
node bench/ondevice_turns.mjs "$profiles" "${urls[@]}"
