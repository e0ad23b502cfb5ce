#!/usr/bin/env bash
# Every test of the project, from a fresh machine: installs what it needs, prints stage times.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export MLFLOW_DISABLE_TELEMETRY=true HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# One build per run: incremental caches only cost disk (GBs) here.
export CARGO_INCREMENTAL=0
native=(--workspace --exclude moodwing-edge-component --exclude moodwing-config-bridge)

stage "python: install" python_env
stage "python: ruff" "$VENV/bin/ruff" check training bench infra docs scripts
stage "python: ruff format" "$VENV/bin/ruff" format --check training bench infra docs scripts
# The registry tests start a real MLflow server: PostgreSQL, and Azurite (npm) for its artifacts.
stage "node: tools" node_tools
stage "postgres: start" postgres_server
# The store suites run on both backends; here PostgreSQL must not be skipped.
export MOODWING_TEST_POSTGRES_REQUIRED=1
stage "python: pytest" "$VENV/bin/python" -m pytest training/tests -q --ignore training/tests/test_loop.py
stage "docs: check" check_docs

stage "rust: tools" rust_tools
stage "web: tools" web_tools
stage "web: chromium" chromium_browser
stage "workflows: lint" lint_workflows
stage "infra: validate" validate_infra
stage "rust: fmt" cargo fmt --all --check
stage "rust: clippy (native)" cargo clippy "${native[@]}" --all-targets --all-features --locked -- -D warnings
stage "rust: clippy (wasm)" cargo clippy -p moodwing-edge-component -p moodwing-config-bridge --target wasm32-wasip2 --locked -- -D warnings
stage "rust: clippy (from-spin)" cargo clippy -p moodwing-config-bridge --features from-spin --target wasm32-wasip2 --locked -- -D warnings
stage "rust: clippy (web-ui)" cargo clippy -p moodwing-web-ui --target wasm32-unknown-unknown --locked -- -D warnings
stage "rust: build components" ./scripts/build-components.sh lstm bert
# Before the Rust tests: host-tests read the on-device runtime it builds.
stage "web-ui: build" build_web_ui
stage "rust: test" cargo test "${native[@]}" --locked
# The scheduled improvement loop end to end: the cloud-api binary the Rust tests just built.
stage "python: loop end to end" "$VENV/bin/python" -m pytest training/tests/test_loop.py -q
stage "web-ui: browser e2e" cargo test -p moodwing-cloud-api --features browser-e2e --test browser --locked

print_stage_times
