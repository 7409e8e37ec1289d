#!/bin/sh
# Run every test: the unit binaries in build/tests/, then the integration
# scripts in tests/integration/ (real lighttpd on free 127.0.0.1 ports).
# Each prints a last line "N passed, N failed"; this sums them into one
# such line and exits non-zero if anything failed or a suite crashed.
# TESTS="name ..." runs only those suites (file names without extension).
set -u
cd "$(dirname "$0")/.." || exit 2
total_p=0 total_f=0 out=$(mktemp) ; trap 'rm -f "$out"' EXIT

run_suite() {
    name=$1; shift
    if [ -n "${TESTS:-}" ]; then
        case " $TESTS " in *" $name "*) ;; *) return 0 ;; esac
    fi
    printf '== %s\n' "$name"
    "$@" >"$out" 2>&1
    rc=$?
    cat "$out"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        echo "!! $name printed no summary (exit $rc): counted as 1 failure"
        total_f=$((total_f + 1)); return
    fi
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "!! $name exited $rc with no failure counted: counted as 1 failure"
        f=1
    fi
    total_p=$((total_p + p)); total_f=$((total_f + f))
}

for t in build/tests/test_*; do
    [ -x "$t" ] || continue
    run_suite "$(basename "$t")" "$t"
done
for t in tests/integration/test_*.py; do
    [ -f "$t" ] || continue
    n=$(basename "$t" .py)
    run_suite "$n" python3 "$t"
done
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
