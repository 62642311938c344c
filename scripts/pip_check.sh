#!/usr/bin/env bash
# `pip check` that allows exactly one known false report (see .ci/run): every other line fails.
set -uo pipefail
known='xgboost 1.7.6 is not supported on this platform'
out=$(python -m pip check 2>&1)
rest=$(printf '%s\n' "$out" | grep -vxF "$known" | grep -vxF 'No broken requirements found.' | grep -v '^$')
if [ -n "$rest" ]; then
    printf '%s\n' "$rest"
    exit 1
fi
case "$out" in
    *"$known"*) echo "pip check: no broken requirements (allowed: $known)" ;;
    *) echo "pip check: no broken requirements" ;;
esac
