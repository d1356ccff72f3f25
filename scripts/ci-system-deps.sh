#!/usr/bin/env bash
# Debian packages the test suite and benchmarks need beyond Python: Chromium for
# tests/test_web_browser.py (driven by Playwright through executable_path=/usr/bin/chromium;
# Playwright never downloads a browser); bgpdump, the independent MRT reader that
# tests/test_mrt_carry.py and bench/bench_mrt.py compare against; gcc, which builds the MRT reader's
# optional C extensions (setup.py; without it the pure-Python path runs). Installs only what is missing;
# safe to run again. Needs root (CI runs as root).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/bgpdump ] || missing+=(bgpdump)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ci-system-deps: missing ${missing[*]}; run as root to install (apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y --no-install-recommends "${missing[@]}"
