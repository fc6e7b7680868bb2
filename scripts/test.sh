#!/usr/bin/env bash
# Set up everything, then run the whole test suite (unit + integration, real Redis,
# real RQ workers, real uvicorn, the local model). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# Browser tests drive Debian's Chromium (Playwright never downloads a browser here).
LLMLABEL_APT_EXTRA="${LLMLABEL_APT_EXTRA:-chromium}" scripts/setup.sh
# Two pytest processes, one per core: most integration tests wait on real processes,
# so the suite runs in about 2/3 of the serial time. Each test file stays in one
# process (`loadfile`); every fixture takes free ports and its own temp dirs.
# LLMLABEL_TEST_PROCESSES=0 runs it serially.
exec .venv/bin/python -m pytest -n "${LLMLABEL_TEST_PROCESSES:-2}" --dist loadfile "$@"
