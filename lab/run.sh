#!/usr/bin/env bash
# npm run lab [-- all|up|down|shell HOST [CMD]|test|run SCENARIO...]
#   all (default): install what is missing, start the lab, run the program against it, validate, tear down
#   up: the same but leave the lab running;  down: remove everything the lab made
#   shell HOST: a root shell on a lab host (aws-gateway, aws-database, azure-gateway, azure-database)
#   test: what `npm test` runs after the unit tests: every scenario in TEST_SCENARIOS, then down
#   run SCENARIO...: scenarios (lab/scenarios) against a lab left running by `up`
# LAB_NAME=x keeps this lab apart from another checkout's (netns crosscloud-lab-x).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "lab: run as root: it makes network namespaces and runs a user-mode Linux kernel" >&2; exit 1; }
source lab/infra/common.sh
mode=${1:-all}
labMain=(node -r ts-node/register/transpile-only lab/main.ts)
case $mode in
  down) exec bash lab/infra/down.sh ;;
  shell) shift; [[ $# -ge 1 ]] || { echo "usage: npm run lab -- shell HOST [CMD]" >&2; exit 2; }; exec bash lab/infra/ctl.sh shell "$@" ;;
  run) shift; [[ $# -ge 1 ]] || { echo "usage: npm run lab -- run SCENARIO..." >&2; exit 2; }
       lab_alive || die "the lab is not running: npm run lab -- up"
       exec ip netns exec "$NETNS" "${labMain[@]}" --attach "$@" ;;
  all | up | test) ;;
  *) echo "usage: npm run lab -- [all|up|down|shell HOST|test|run SCENARIO...]" >&2; exit 2 ;;
esac
bash lab/install-packages.sh
[[ -d node_modules/@pulumi/pulumi ]] || npm ci --no-audit --no-fund
bash lab/infra/up.sh
if [[ $mode != up ]]; then
  trap 'bash lab/infra/down.sh' EXIT
fi
scenarios=()
if [[ $mode == test ]]; then
  mapfile -t scenarios < <(node -r ts-node/register/transpile-only -e 'const s = require("./lab/scenarios"); console.log(s.TEST_SCENARIOS.concat(process.env.LAB_LONG ? s.LONG_SCENARIOS : []).join("\n"))')
fi
ip netns exec "$NETNS" "${labMain[@]}" "${scenarios[@]}"
if [[ $mode == up ]]; then
  echo "lab: running. npm run lab -- shell aws-database   |   npm run lab -- run SCENARIO   |   npm run lab -- down"
fi
