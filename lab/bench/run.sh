#!/usr/bin/env bash
# npm run bench [-- --out DIR] [--reps N]: the benchmark in the lab. Uses the lab that runs (LAB_NAME
# as for npm run lab); if none runs, brings one up and takes it down at the end.
# npm run bench -- --stack-outputs FILE --key KEY: against a deployed stack (see lab/bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=(node -r ts-node/register/transpile-only lab/bench/main.ts)
if [[ " $* " == *" --stack-outputs "* || " $* " == *" --report-from "* ]]; then
  exec "${bench[@]}" "$@"
fi
[[ $(id -u) -eq 0 ]] || { echo "bench: run as root (the lab needs it)" >&2; exit 1; }
source lab/infra/common.sh
if ! lab_alive || [[ ! -s .lab/outputs.json ]]; then
  bash lab/run.sh up
  trap 'bash lab/infra/down.sh' EXIT
fi
ip netns exec "$NETNS" "${bench[@]}" "$@"
