#!/usr/bin/env bash
# `make test`: every tier. The slow tests (a libvirt node under qemu's software
# emulation: minutes spent waiting for boots) run beside the tiers that build no lab
# machine; then the lab tiers run alone, their timings and the host's bridges their
# own. Each part must run tests and pass (pytest exits 5 when it collects none).
set -uo pipefail
cd "$(dirname "$0")/.."

run() { # NAME ARGS...: pytest, "no tests" counted as a failure
    local name=$1 status=0
    shift
    .venv/bin/pytest "$@" ${PYTEST_ARGS:-} || status=$?
    if [ "$status" -eq 5 ]; then echo "$name: no tests collected"; status=1; fi
    return "$status"
}

slow_log=$(mktemp)
trap 'rm -f "$slow_log"' EXIT
run "slow tests" -m slow -p no:cacheprovider >"$slow_log" 2>&1 &
slow=$!
failed=0
run "unit, API, jobs and integration tiers" -m "not lab and not slow" || failed=1
wait "$slow" || failed=1
echo "--- the slow tests, run meanwhile ---"
cat "$slow_log"
run "lab tiers" -m "lab and not slow" || failed=1
exit "$failed"
