#!/usr/bin/env bash
# Run the live service against a local replay of recorded OONI, IODA and Cloudflare Radar answers:
# no real token, no internet.
# Starts the replay server (tests/replay) on 127.0.0.1:8765 and `lightsout run` on
# http://127.0.0.1:8600 (dashboard /, API /api/v1/sources, feed /feed.atom). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || ./scripts/setup.sh
mkdir -p .demo
# The Cloudflare Radar replay wants a bearer token like the real API; this one is only for the replay.
export LIGHTSOUT_DEMO_RADAR_TOKEN="${LIGHTSOUT_DEMO_RADAR_TOKEN:-demo-token}"
(cd tests && exec ../.venv/bin/python -m replay --port 8765) &
replay=$!
# RIS Live: the recorded firehose looped for a day of 5-minute bins (2 s each), from a RIB dump
# derived from it (tests/replay/ris_live.py); AS64496 shows the recording's withdrawals.
rm -f .demo/rrc00/bview.20190523.1400.gz
(cd tests && exec ../.venv/bin/python -m replay.ris_live --port 8766 --passes 288 --pace 0.002 \
    --rib ../.demo/rrc00/bview.20190523.1400.gz > /dev/null) &
ris=$!
trap 'kill "$replay" "$ris" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s .demo/rrc00/bview.20190523.1400.gz ] && break; sleep 0.2; done
sleep 1
echo "dashboard: http://127.0.0.1:8600/   sources: http://127.0.0.1:8600/api/v1/sources" >&2
.venv/bin/lightsout run --config scripts/live-demo.toml
