#!/bin/sh
# Run every test: the unit binaries in build/tests/ and the unit scripts
# tests/unit/test_*.py, then the integration
# scripts in tests/integration/ (real lighttpd on free 127.0.0.1 ports).
# Each prints a last line "N passed, N failed"; this sums them into one
# such line and exits non-zero if anything failed or a suite crashed.
# TESTS="name ..." runs only those suites (file names without extension).
# UNIT_ONLY=1 runs only the unit binaries (make tsan: the scripts would
#   run the sanitized programs, whose reports go nowhere checked).
# SAN_DIR=DIR (make test SANITIZE=1): sanitizer reports of every process
#   land there; any report at the end is a failure.
# VALGRIND=1 (make test VALGRIND=1): the integration suites run with every
#   hookspool.fcgi under valgrind memcheck; any error or leak is a failure.
set -u
cd "$(dirname "$0")/.." || exit 2
total_p=0 total_f=0 out=$(mktemp) fails=$(mktemp) ; trap 'rm -f "$out" "$fails"' EXIT
BUILD=${HOOKSPOOL_TEST_BUILD:-$PWD/build}
export HOOKSPOOL_TEST_BUILD=$BUILD
# The integration tests run the programs as the web server's user
# (www-data), which cannot enter a clone under a 0700 home (/root on
# Debian, or any home on Debian 12). Then they run a copy in a directory
# of their own that every user can reach; the unit tests, run as
# ourselves, keep the build directory.
INT_BUILD=$BUILD
if [ "$(id -u)" -eq 0 ] && id www-data >/dev/null 2>&1 &&
        ! runuser -u www-data -- test -x "$BUILD/hookspool.fcgi" 2>/dev/null; then
    STAGE=$(mktemp -d /tmp/hookspool-build.XXXXXX) || exit 2
    # obj/: test_http reads the signing module's symbols from obj/sign.o.
    chmod 755 "$STAGE" && cp -p "$BUILD/hookspool.fcgi" "$BUILD/hookspool" "$STAGE/" &&
        cp -pR "$BUILD/obj" "$STAGE/obj" || exit 2
    trap 'rm -f "$out" "$fails"; rm -rf "$STAGE"' EXIT
    INT_BUILD=$STAGE
    echo "# the build is out of www-data's reach: the integration tests run a copy in $STAGE"
fi
if [ -n "${SAN_DIR:-}" ]; then
    rm -rf "$SAN_DIR" && mkdir -p "$SAN_DIR" && chmod 1777 "$SAN_DIR" || exit 2
fi
if [ "${VALGRIND:-}" = 1 ]; then
    VG_DIR=$(mktemp -d /tmp/hookspool-vg.XXXXXX) && chmod 1777 "$VG_DIR" || exit 2
    export HOOKSPOOL_TEST_WRAP="$VG_DIR/hookspool.fcgi"
    cat > "$HOOKSPOOL_TEST_WRAP" <<EOF2
#!/bin/sh
exec valgrind -q --tool=memcheck --vgdb=no --leak-check=full --errors-for-leak-kinds=definite,indirect \\
    --show-leak-kinds=definite,indirect --log-file=$VG_DIR/vg.%p.log \\
    $INT_BUILD/hookspool.fcgi "\$@"
EOF2
    chmod 755 "$HOOKSPOOL_TEST_WRAP"
    # The wrapper's own check, and why --vgdb=no. memcheck's gdb server
    # (vgdb, on by default) makes a file
    # /tmp/vgdb-pipe-shared-mem-vgdb-PID-by-USER-on-HOST per process, which
    # a process killed by a test leaves behind. Once PIDs wrap, a process of
    # another user with the same PID cannot create its own (EACCES where
    # fs.protected_regular is set) and says so in its log, which counts as
    # an error (CI, 2026-12-05). Here the place for that file is one we
    # cannot write (VALGRIND_OPTS: the wrapper's own options win): the
    # log must stay empty.
    probe=$(mktemp -d /tmp/hookspool-vgprobe.XXXXXX) && chmod 755 "$probe" &&
        mkdir "$probe/ro" && chmod 555 "$probe/ro" || exit 2
    as_probe=
    [ "$(id -u)" -eq 0 ] && id www-data >/dev/null 2>&1 && as_probe="runuser -u www-data --"
    # VG_DIR is empty until now: the one log there is the probe's.
    $as_probe env VALGRIND_OPTS="--vgdb-prefix=$probe/ro/vgdb" REQUEST_METHOD=GET \
        "$HOOKSPOOL_TEST_WRAP" </dev/null >/dev/null 2>&1
    printf '== valgrind wrapper\n'
    probe_log=$(ls "$VG_DIR"/vg.*.log 2>/dev/null)
    if [ -n "$probe_log" ] && [ "$(echo "$probe_log" | wc -l)" -eq 1 ] && [ ! -s "$probe_log" ]; then
        echo "ok   - a vgdb file it cannot create leaves memcheck's log empty"
        total_p=$((total_p + 1))
    else
        echo "not ok - a vgdb file it cannot create leaves memcheck's log empty:"
        if [ -n "$probe_log" ]; then cat $probe_log; else echo "#      (no log in $VG_DIR)"; fi
        echo "!! valgrind wrapper: memcheck's log of the probe" >>"$fails"
        total_f=$((total_f + 1))
    fi
    rm -f $probe_log; rm -rf "$probe"
    # Under valgrind every request is 20-50 times slower: the HTTP-level
    # suites only (the crash, race and load suites measure other things).
    TESTS=${TESTS:-test_http test_config test_status test_dedup test_hosts}
fi

run_suite() {
    name=$1; shift
    if [ -n "${TESTS:-}" ]; then
        case " $TESTS " in *" $name "*) ;; *) return 0 ;; esac
    fi
    printf '== %s\n' "$name"
    [ -n "${SAN_DIR:-}" ] && san_before=$(ls "$SAN_DIR")
    "$@" >"$out" 2>&1
    rc=$?
    cat "$out"
    # A report names a pid, not a suite: say here which suite's processes
    # wrote it (the count of reports at the end is what fails the run).
    if [ -n "${SAN_DIR:-}" ]; then
        for r in $(ls "$SAN_DIR"); do
            case "
$san_before
" in *"
$r
"*) ;; *) echo "!! sanitizer report $SAN_DIR/$r written during $name" | tee -a "$fails" ;; esac
        done
    fi
    # Kept for the recap at the end: a CI log is often read from its tail.
    grep -E '^(not ok|FAIL|!!)' "$out" | sed "s/^/$name: /" >>"$fails"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        echo "!! $name printed no summary (exit $rc): counted as 1 failure" | tee -a "$fails"
        total_f=$((total_f + 1)); return
    fi
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "!! $name exited $rc with no failure counted: counted as 1 failure" | tee -a "$fails"
        f=1
    fi
    total_p=$((total_p + p)); total_f=$((total_f + f))
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_suite "$(basename "$t")" "$t"
done
[ "${UNIT_ONLY:-}" = 1 ] || {
# Unit tests written as scripts (source checks such as test_includes.py).
for t in tests/unit/test_*.py; do
    [ -f "$t" ] || continue
    run_suite "$(basename "$t" .py)" python3 "$t"
done
for t in tests/integration/test_*.py; do
    [ -f "$t" ] || continue
    n=$(basename "$t" .py)
    run_suite "$n" env HOOKSPOOL_TEST_BUILD="$INT_BUILD" python3 "$t"
done
}
if [ -n "${SAN_DIR:-}" ]; then
    printf '== sanitizer reports\n'
    if [ -n "$(ls -A "$SAN_DIR" 2>/dev/null)" ]; then
        head -n 40 "$SAN_DIR"/* ; echo "!! sanitizer reports in $SAN_DIR"
        total_f=$((total_f + 1))
    else
        echo "none"; total_p=$((total_p + 1))
    fi
fi
if [ "${VALGRIND:-}" = 1 ]; then
    printf '== valgrind memcheck\n'
    n=$(ls "$VG_DIR"/vg.*.log 2>/dev/null | wc -l)
    # -q: valgrind writes nothing unless it has an error or a leak to say
    bad=$(find "$VG_DIR" -name 'vg.*.log' -size +0c 2>/dev/null)
    if [ "$n" -eq 0 ]; then
        echo "!! no process ran under valgrind"; total_f=$((total_f + 1))
    elif [ -n "$bad" ]; then
        for f in $bad; do head -n 60 "$f"; done
        echo "!! valgrind reported errors in $(echo "$bad" | wc -w) of $n processes"
        total_f=$((total_f + 1))
    else
        echo "$n processes, 0 errors, 0 leaks"; total_p=$((total_p + 1))
    fi
    rm -rf "$VG_DIR"
fi
if [ -s "$fails" ]; then
    printf '== failures (repeated from above)\n'
    cat "$fails"
fi
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
