#!/bin/sh
# Runs every fuzz target for SECONDS seconds (default 10). New inputs go to
# target/fuzz-corpus/TARGET; fuzz/seeds/TARGET is read-only. A crash stops
# the run with libFuzzer's report and the failing input in fuzz/artifacts/.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-10}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in manifest ignore layer reference tree convert; do
    mkdir -p "target/fuzz-corpus/$target"
    if ! cargo +nightly fuzz run -O "$target" "target/fuzz-corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        cat "$log"
        echo "fuzz target $target failed" >&2
        exit 1
    fi
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "fuzz $target: ${runs:-?} inputs in ${seconds}s, no crash"
done
