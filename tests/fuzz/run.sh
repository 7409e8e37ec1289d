#!/bin/sh
# Build every libFuzzer harness tests/fuzz/fuzz_*.c into build/fuzz/ and
# run each for SECONDS (first argument, else $FUZZ_SECONDS, else 30) on a
# copy of its seeds: tests/fuzz/corpus/NAME/ is copied into
# build/fuzz/corpus/NAME/, which keeps what earlier runs found; nothing is
# ever written under tests/. Prints one line per harness, "NAME: ok (...)"
# or "NAME: FAILED <crash file>", then "N passed, N failed" (one per
# harness), and exits non-zero if any harness failed to build or run.
# The compiler and flags come from the Makefile (make fuzz sets FUZZ_CC,
# FUZZ_CFLAGS and LDLIBS; FUZZ_CC=clang-16 make fuzz picks another clang,
# which needs its libFuzzer runtime):
#   FUZZ_ONLY="json sig"   run only these harnesses
# A crash is replayed with:  build/fuzz/fuzz_NAME build/fuzz/artifacts/NAME/crash-...
set -u
cd "$(dirname "$0")/../.." || exit 2
SECONDS_EACH=${1:-${FUZZ_SECONDS:-30}}
for v in FUZZ_CC FUZZ_CFLAGS LDLIBS; do
    eval "[ -n \"\${$v:-}\" ]" || { echo "run.sh: $v is not set: run it through make fuzz" >&2; exit 2; }
done
CC=$FUZZ_CC
CFLAGS=$FUZZ_CFLAGS
LIBS=$LDLIBS
OUT=build/fuzz
case $SECONDS_EACH in ''|*[!0-9]*) echo "run.sh: SECONDS must be a number" >&2; exit 2 ;; esac


harnesses=""
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    short=${name#fuzz_}
    if [ -n "${FUZZ_ONLY:-}" ]; then
        case " $FUZZ_ONLY " in *" $short "*|*" $name "*) ;; *) continue ;; esac
    fi
    harnesses="$harnesses $name"
done

passed=0 failed=0
fail() { echo "$1: FAILED $2"; failed=$((failed + 1)); }

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "run.sh: $CC not found (install clang and libclang-rt-dev: make deps)" >&2
    for h in $harnesses; do fail "$h" "(no compiler)"; done
    echo "$passed passed, $failed failed"
    exit 1
fi

# The library once, instrumented for coverage but without libFuzzer's
# main; each harness then links it with -fsanitize=fuzzer.
mkdir -p "$OUT/obj" "$OUT/corpus" "$OUT/artifacts" || exit 2
lib_ok=1
for src in lib/*.c; do
    obj="$OUT/obj/$(basename "$src" .c).o"
    # shellcheck disable=SC2086
    $CC $CFLAGS -fsanitize=fuzzer-no-link -c -o "$obj" "$src" || lib_ok=0
done

for h in $harnesses; do
    log="$OUT/$h.log"
    if [ "$lib_ok" != 1 ]; then fail "$h" "(library did not build)"; continue; fi
    # shellcheck disable=SC2086
    if ! $CC $CFLAGS -fsanitize=fuzzer -o "$OUT/$h" "tests/fuzz/$h.c" "$OUT"/obj/*.o $LIBS \
            >"$log" 2>&1; then
        cat "$log" >&2
        fail "$h" "(did not build, see $log)"
        continue
    fi
    corpus="$OUT/corpus/${h#fuzz_}"
    art="$OUT/artifacts/${h#fuzz_}"
    mkdir -p "$corpus" "$art"
    cp tests/fuzz/corpus/"$h"/* "$corpus"/ 2>/dev/null
    dict=""
    [ -f "tests/fuzz/$h.dict" ] && dict="-dict=tests/fuzz/$h.dict"
    # shellcheck disable=SC2086
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    "./$OUT/$h" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art/" $dict "$corpus" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        echo "$h: ok (${runs:-?} runs, ${rate:-?} exec/s, ${cov:-cov: ?})"
        passed=$((passed + 1))
    else
        crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        grep -E 'ERROR: |SUMMARY: |property failed|runtime error' "$log" | head -n 5 >&2
        fail "$h" "${crash:-(exit $rc, no crash file; see $log)}"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
