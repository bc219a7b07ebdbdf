#!/usr/bin/env bash
# npm run lab [-- all|up|down|shell HOST [CMD]|test]
#   all (default): install what is missing, start the lab, run the program against it, validate, tear down
#   up: the same but leave the lab running;  down: remove everything the lab made
#   shell HOST: a root shell on a lab host (aws-gateway, aws-database, azure-gateway, azure-database)
#   test: what `npm test` runs after the unit tests (same as all)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "lab: run as root: it makes network namespaces and runs a user-mode Linux kernel" >&2; exit 1; }
mode=${1:-all}
case $mode in
  down) exec bash lab/infra/down.sh ;;
  shell) shift; [[ $# -ge 1 ]] || { echo "usage: npm run lab -- shell HOST [CMD]" >&2; exit 2; }; exec bash lab/infra/ctl.sh shell "$@" ;;
  all | up | test) ;;
  *) echo "usage: npm run lab -- [all|up|down|shell HOST|test]" >&2; exit 2 ;;
esac
bash lab/install-packages.sh
[[ -d node_modules/@pulumi/pulumi ]] || npm ci --no-audit --no-fund
bash lab/infra/up.sh
if [[ $mode != up ]]; then
  trap 'bash lab/infra/down.sh' EXIT
fi
again=(); [[ $mode == test ]] && again=(--again --switchover)
ip netns exec crosscloud-lab node -r ts-node/register/transpile-only lab/harness/main.ts "${again[@]}"
if [[ $mode == up ]]; then
  echo "lab: running. npm run lab -- shell aws-database   |   npm run lab -- down"
fi
