#!/usr/bin/env bash
# Set up, then run the main job on bundled real data: Iran's November 2019 shutdown.
# Ingests the Monash IP Observatory's hourly connectivity index for Iran's provinces and counties,
# then shows per province where connectivity fell, in the terminal and as out/iran-2019-11.png,
# and runs the detector: the national event with its onset, depth and affected provinces.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
DATA=${LIGHTSOUT_DATA:-../shared/data}
export LIGHTSOUT_DB=${LIGHTSOUT_DB:-$PWD/out/lightsout.duckdb}
mkdir -p out
.venv/bin/lightsout ingest "$DATA/monash-ip-observatory/irn-2019-11-11_gif.csv"
.venv/bin/lightsout show IR --chart out/iran-2019-11.png
.venv/bin/lightsout detect
.venv/bin/lightsout events --country IR --scope national
echo
echo "The store is $LIGHTSOUT_DB; to use it with the commands of the README:"
echo "  . .venv/bin/activate && export LIGHTSOUT_DB=$LIGHTSOUT_DB"
