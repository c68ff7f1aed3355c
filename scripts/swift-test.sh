#!/usr/bin/env bash
# Runs the Swift test suites (already built) and keeps their output in var/test-logs/swift-test.log.
#
#   scripts/swift-test.sh [swift test options...]
#
# The store tests need PostgreSQL: unless IRONIC_TEST_POSTGRES_URL names a server (or
# IRONIC_TEST_POSTGRES=skip), a throwaway one is started through scripts/test-postgres.sh.
# A run of several hundred tests prints thousands of lines, so when it fails this script ends
# with the failures only (each failed expectation with the lines that explain it): they are the
# last thing on screen and in a CI log that keeps only its tail.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SWIFT="${SWIFT:-swift}"
LOG_DIR="$ROOT/var/test-logs"
LOG="$LOG_DIR/swift-test.log"
mkdir -p "$LOG_DIR"

if [ -n "${IRONIC_TEST_POSTGRES_URL:-}" ] || [ "${IRONIC_TEST_POSTGRES:-}" = skip ]; then
    runner=("$SWIFT" test --skip-build "$@")
else
    runner=("$ROOT/scripts/test-postgres.sh" with "$SWIFT" test --skip-build "$@")
fi

"${runner[@]}" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}

if [ "$status" -ne 0 ]; then
    echo
    echo "=== Swift test failures (full output: var/test-logs/swift-test.log) ==="
    # Swift Testing: "✘ Test x() recorded an issue at File.swift:12:3: ..." and the indented
    # lines after it; XCTest: "error: ..."; a crashed test process: "Fatal error" / signal.
    grep -n -A8 -E 'recorded an issue|\.swift:[0-9]+: error: |Fatal error|exited with signal|Unexpected signal' "$LOG" \
        | grep -v -E '^[0-9]+-(.*(◇|✔ )|[0-9]{4}-[0-9]{2}-[0-9]{2}T)' | head -n 120
    echo "=== $(grep -c 'recorded an issue' "$LOG") recorded issue(s); swift test exited with $status ==="
fi
exit "$status"
