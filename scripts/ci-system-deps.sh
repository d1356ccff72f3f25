#!/usr/bin/env bash
# Debian packages the test suite needs beyond Python: Chromium for tests/test_web_browser.py
# (driven by Playwright through executable_path=/usr/bin/chromium; Playwright never downloads a
# browser). Installs only what is missing; safe to run again. Needs root (CI runs as root).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ci-system-deps: /usr/bin/chromium is missing; run as root to install it (apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y --no-install-recommends chromium
