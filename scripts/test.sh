#!/usr/bin/env bash
# Set up everything, then run the whole test suite (unit + integration, real Redis,
# real RQ workers, real uvicorn, the local model). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# Browser tests drive Debian's Chromium (Playwright never downloads a browser here).
LLMLABEL_APT_EXTRA="${LLMLABEL_APT_EXTRA:-chromium}" scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
