#!/usr/bin/env bash
# Every test of the project, from a fresh machine: installs what it needs, prints stage times.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export MLFLOW_DISABLE_TELEMETRY=true HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
native=(--workspace --exclude moodwing-edge-component)

stage "python: install" python_env
stage "python: ruff" "$VENV/bin/ruff" check training bench
stage "python: ruff format" "$VENV/bin/ruff" format --check training bench
stage "python: pytest" "$VENV/bin/python" -m pytest training/tests -q

stage "rust: tools" rust_tools
stage "rust: fmt" cargo fmt --all --check
stage "rust: clippy (native)" cargo clippy "${native[@]}" --all-targets --locked -- -D warnings
stage "rust: clippy (wasm)" cargo clippy -p moodwing-edge-component --target wasm32-wasip2 --locked -- -D warnings
stage "rust: build components" ./scripts/build-components.sh lstm bert
stage "rust: test" cargo test "${native[@]}" --locked

print_stage_times
