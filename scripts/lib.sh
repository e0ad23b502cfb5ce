# Shared by the scripts: tool cache, timed stages, the Python environment.
# Tools and the virtual environment live outside the clone, so a second run on a machine reuses them.

MOODWING_CACHE="${MOODWING_CACHE:-$HOME/.cache/moodwing}"
VENV="$MOODWING_CACHE/venv"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STAGE_TIMES=()

stage() { # stage NAME COMMAND...: run a command, print how long it took, stop on failure
  local name="$1" started=$SECONDS
  shift
  echo "==> $name"
  "$@"
  local took=$((SECONDS - started))
  STAGE_TIMES+=("$(printf '%-28s %5ss' "$name" "$took")")
  echo "<== $name: ${took}s"
}

print_stage_times() {
  echo "---- stage times ----"
  printf '%s\n' "${STAGE_TIMES[@]}"
}

python_env() { # the training venv, installed from the lock file when it changed
  local stamp="$VENV/.lock-sha256" want
  want="$(sha256sum "$ROOT/training/requirements.lock" | cut -d' ' -f1)"
  if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
  fi
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    "$VENV/bin/pip" install --progress-bar off -q -r "$ROOT/training/requirements.lock"
    echo "$want" > "$stamp"
  fi
  "$VENV/bin/pip" install --progress-bar off -q --no-deps --no-build-isolation -e "$ROOT/training"
}

WASMTIME_VERSION=48.0.8 # newer wasmtime-cli releases need a newer rustc than 1.95
TOOLS="$MOODWING_CACHE/tools"
WASMTIME="$TOOLS/bin/wasmtime"
export WASMTIME

rust_tools() { # the wasm target and wasmtime (the WebAssembly host), built once into the tools cache
  rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
  if [[ ! -x "$WASMTIME" ]] || ! "$WASMTIME" --version | grep -q " $WASMTIME_VERSION "; then
    echo "installing wasmtime-cli $WASMTIME_VERSION into $TOOLS (about 12 minutes on 2 cores, once)"
    cargo install --locked --root "$TOOLS" "wasmtime-cli@$WASMTIME_VERSION"
  fi
  "$WASMTIME" --version
}
