#!/usr/bin/env bash
# bench/run.sh - hookspool's benchmark (`make bench`; not part of `make test`).
#
# Measures, never asserts: every target is printed PASS/MISS beside the
# number it is judged on, and the script exits 0 whatever they say (it
# fails only when it cannot measure). The report goes to stdout and to
# bench/last-run.md; progress goes to stderr.
#
#   1. FastCGI under lighttpd, BENCH_PROCS processes each, wrk with
#      BENCH_CONNS connections posting distinct signed ~1 KiB Caliza events
#      (bench/post.lua), alternating (a b c ...) BENCH_REPS times:
#        hookspool.fcgi  HOOKSPOOL_FSYNC=never, dedup off
#        hookspool.fcgi  HOOKSPOOL_FSYNC=always, dedup off
#        hookspool.fcgi  HOOKSPOOL_FSYNC=never, dedup on (Caliza's default key)
#        hookspool.fcgi  HOOKSPOOL_FSYNC=always, dedup on: the default of every
#                        HMAC preset
#        hookspool.fcgi  the same under a retry storm: every event delivered
#                        twice in a row (the second answered as a duplicate)
#        null responder  bench/null_fcgi.c (the ceiling)
#        null + flush    bench/null_flush.c: each body appended as a line and
#                        flushed before the answer, with hookspool's group
#                        commit and default threads (fsync=always's floor)
#        PHP             bench/receiver.php under php-cgi (PHP_FCGI_CHILDREN=0)
#      req/s, p50, p99, non-2xx answers, the server side's CPU per request
#      (lighttpd and its children, utime+stime from /proc/PID/stat), and a
#      check that the spool holds one line per 2xx answer.
#   2. The disk's single-writer write+fdatasync rate (bench/fsync_rate.c) on
#      the spool's filesystem, before and after the FastCGI series.
#   3. hookspool.fcgi as a plain CGI (mod_cgi), dynamic and static builds,
#      against a trivial C CGI (bench/trivial_cgi.c), dynamic and static,
#      and a static one that also checks the HMAC with OpenSSL as hookspool
#      does (bench/hmac_cgi.c): the part of the cost that is OpenSSL's.
#   4. Private memory (smaps_rollup) of each hookspool.fcgi process after
#      BENCH_MEM_EARLY and BENCH_MEM_LATE requests.
#   5. The library in-process (bench/handler_bench.c): MB/s of body for
#      1 KiB, 64 KiB and 1 MiB bodies, against `openssl speed -evp sha256`.
#   6. The cost of one append with dedup on against a spool holding
#      BENCH_FILL lines and keys, against an empty spool.
#   7. Where the server CPU of FastCGI runs goes, fsync=never, fsync=always
#      and the default: schedstat per request, perf (when it works).
#   8. System calls per request (strace), five configurations.
#   9. The status with 0 and with BENCH_STATUS_SEGMENTS segments waiting in
#      ready/: GET latency (FastCGI, and plain CGI, a process per request),
#      POST latency alone and under a flood of GETs (bench/get.lua,
#      BENCH_CONNS/2 connections each side).
#
# Settings (environment):
#   BENCH_QUICK=1          2 s runs, 1 repetition, smaller sizes (development)
#   BENCH_SECONDS=10       one FastCGI run        BENCH_REPS=3   repetitions
#   BENCH_PROCS=2          FastCGI processes      BENCH_CONNS=16 wrk connections
#   BENCH_THREADS=1        wrk threads            BENCH_WARMUP=1 s before each run
#   BENCH_CGI_SECONDS=5    one CGI run            BENCH_POOL=300000 distinct events
#   BENCH_MEM_EARLY=10000  BENCH_MEM_LATE=100000  requests before reading smaps
#   BENCH_FILL=1000000     lines and keys         BENCH_APPENDS=10000 timed appends
#   BENCH_HANDLER_SECONDS=2  BENCH_FSYNC_SECONDS=5  BENCH_PERF_SECONDS=5
#   BENCH_DIR=/var/tmp     where the spools go (its filesystem is the one measured)
#   BENCH_TMPFS=/dev/shm   a tmpfs for the in-process runs ("" to skip)
#   BENCH_PHP_MAX_REQUESTS=0  PHP_FCGI_MAX_REQUESTS (0: php-cgi never restarts)
#   BENCH_PERF=auto|0|1    BENCH_KEEP=1 keeps the temporary directory
#   BENCH_STATUS_SEGMENTS=50000  segments in ready/ for the status measurement
#   BENCH_ONLY=status      only the status measurement (9), then the report
#   BENCH_ONLY=fcgi        only the FastCGI rows (1) and the disk's flush rate, then the report
#   BENCH_ONLY=prof        only the profiles (7: schedstat and perf; 8: strace), then the report
#   BENCH_PROF_CFGS="hs_never hs_always hs_dedup hs_default null_flush"  the configurations profiled in 7
#   BENCH_WAIT_QUIET=0     wait up to this many seconds for other processes
#                          to stop using the CPU before starting
#   BENCH_OUT=bench/last-run.md
#   BENCH_REV=             a git revision (e.g. HEAD): measure that commit,
#                          exported and built in the temporary directory,
#                          instead of the work tree's build/ (to compare a
#                          change against its base on the same machine)
#   BENCH_BASE=            a git revision: also measure it, built the same
#                          way, in the FastCGI series, each hookspool row
#                          right beside the same row of the build measured
#                          (the order swapped every repetition), and report
#                          the pairs: on a noisy machine the drift between
#                          two runs minutes apart is larger than most changes
#   BENCH_CFGS="..."       the FastCGI rows measured (default: all eight)
#   NULL_FLUSH_ALONE=1     the null_flush row without group commit: each
#                          request its own fdatasync (a what-if for the floor)
#   NULL_FLUSH_PREALLOC=N  the null_flush row with N bytes preallocated past the
#                          file's end (FALLOC_FL_KEEP_SIZE; a what-if)
#
# The programs measured are copied from build/ at the start (or built from
# BENCH_REV), so a rebuild of build/ during the run changes nothing; the
# static build is `make STATIC=1 B=<tmp>/static all` from the same sources.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
BB=$BUILD/bench
HERE=$ROOT/bench
SECRET='AXxDmWTa0fcdoT6CsR5DhmijZaaaHwY+77sVZs/x4ro='   # the demo secret, used literally
EXAMPLE=$ROOT/tests/data/caliza/TRANSACTION_COMPLETED.json

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    d_secs=2 d_reps=1 d_cgi=2 d_early=2000 d_late=20000 d_fill=100000 d_app=2000
    d_hsecs=0.5 d_fsecs=2 d_psecs=2 d_ossl=1
else
    d_secs=10 d_reps=3 d_cgi=5 d_early=10000 d_late=100000 d_fill=1000000 d_app=10000
    d_hsecs=2 d_fsecs=5 d_psecs=5 d_ossl=3
fi
SECS=${BENCH_SECONDS:-$d_secs}
REPS=${BENCH_REPS:-$d_reps}
PROCS=${BENCH_PROCS:-2}
CONNS=${BENCH_CONNS:-16}
THREADS=${BENCH_THREADS:-1}
WARMUP=${BENCH_WARMUP:-1}
CGI_SECS=${BENCH_CGI_SECONDS:-$d_cgi}
POOL_N=${BENCH_POOL:-300000}
MEM_EARLY=${BENCH_MEM_EARLY:-$d_early}
MEM_LATE=${BENCH_MEM_LATE:-$d_late}
FILL=${BENCH_FILL:-$d_fill}
APPENDS=${BENCH_APPENDS:-$d_app}
HSECS=${BENCH_HANDLER_SECONDS:-$d_hsecs}
FSECS=${BENCH_FSYNC_SECONDS:-$d_fsecs}
PSECS=${BENCH_PERF_SECONDS:-$d_psecs}
OSSL_SECS=${BENCH_OPENSSL_SECONDS:-$d_ossl}
BDIR=${BENCH_DIR:-/var/tmp}
TMPFS=${BENCH_TMPFS-/dev/shm}
PHP_MAX=${BENCH_PHP_MAX_REQUESTS:-0}
PERF=${BENCH_PERF:-auto}
OUT=${BENCH_OUT:-$HERE/last-run.md}
STATUS_SEGS=${BENCH_STATUS_SEGMENTS:-50000}
ONLY=${BENCH_ONLY:-}
STATUS_TOKEN=bench-status-token   # HOOKSPOOL_STATUS_TOKEN of every hookspool run

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

for v in SECS REPS PROCS CONNS THREADS WARMUP CGI_SECS POOL_N MEM_EARLY MEM_LATE FILL APPENDS PHP_MAX STATUS_SEGS; do
    case ${!v} in ''|*[!0-9]*) die "$v must be a whole number, not '${!v}'" ;; esac
done
[ "$CONNS" -ge "$THREADS" ] || die "BENCH_CONNS must be at least BENCH_THREADS"
[ "$MEM_LATE" -gt "$MEM_EARLY" ] || die "BENCH_MEM_LATE must be more than BENCH_MEM_EARLY"
case $ONLY in ''|status|fcgi|prof) ;; *) die "BENCH_ONLY must be empty, status, fcgi or prof, not '$ONLY'" ;; esac

# ------------------------------------------------------------ tools, builds
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is missing: apt-get install -y $2"; }
LIGHTTPD=$(command -v lighttpd 2>/dev/null || true)
[ -n "$LIGHTTPD" ] || for c in /usr/sbin/lighttpd /usr/local/sbin/lighttpd; do
    [ -x "$c" ] && LIGHTTPD=$c && break
done
[ -n "$LIGHTTPD" ] || die "lighttpd is missing: apt-get install -y lighttpd"
need wrk wrk
need php-cgi php-cgi
need python3 python3
need openssl openssl
need cc gcc
need make make
need git git

T=$(mktemp -d "$BDIR/hookspool-bench.XXXXXX")
SHM=""
SERVER_PID=""
REAPER_PID=""
SERVER_KIDS=""
SERVER_CONF=""
HUNG=0
cleanup() {
    set +e
    # (cleanup can run before stop_server is defined, on an early error)
    if declare -F stop_server >/dev/null; then stop_server; fi
    [ -n "$SHM" ] && rm -rf "$SHM"
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
RES=$T/results.txt
: >"$RES"
rec() { printf '%s\n' "$*" >>"$RES"; }

# The programs under test: PROG (hookspool.fcgi, hookspool, libhookspool.a),
# INC (lib/'s headers for handler_bench), SRC (sources for the static build).
REV=${BENCH_REV:-}
if [ -n "$REV" ]; then
    commit=$(git -C "$ROOT" rev-parse --verify "$REV^{commit}") || die "BENCH_REV=$REV is not a commit"
    say "exporting $REV ($commit) and building it"
    SRC=$T/src
    mkdir -p "$SRC"
    git -C "$ROOT" archive "$commit" | tar -x -C "$SRC"
    make -s -C "$SRC" all >"$T/rev-build.log" 2>&1 ||
        { cat "$T/rev-build.log" >&2; die "building $REV failed"; }
    PROG=$SRC/build
    INC=$SRC/lib
    # handler_bench drives the library through its API, which changes
    # with it: the revision's own bench/handler_bench.c.
    HB_SRC=$SRC/bench/handler_bench.c
    PROG_DESC="git archive $REV = $commit, built with make all (in the temporary directory)"
else
    for f in hookspool.fcgi hookspool libhookspool.a; do
        [ -e "$BUILD/$f" ] || die "build/$f is missing: run make first (make bench does)"
    done
    SRC=$ROOT
    HB_SRC=$HERE/handler_bench.c
    PROG=$T/prog
    INC=$T/prog/include
    mkdir -p "$INC"
    cp "$BUILD/hookspool.fcgi" "$BUILD/hookspool" "$BUILD/libhookspool.a" "$PROG/"
    cp "$ROOT"/lib/*.h "$INC/"
    dirty=$(git -C "$ROOT" status --porcelain -- lib cgi Makefile 2>/dev/null | wc -l || true)
    PROG_DESC="the work tree's build/ (copied at the start, built $(date -u -r "$BUILD/hookspool.fcgi" +%Y-%m-%dT%H:%M:%SZ)) at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$([ "$dirty" -gt 0 ] && echo " + $dirty uncommitted changes in lib/, cgi/, Makefile" || true)"
fi
FCGI=$PROG/hookspool.fcgi
CLI=$PROG/hookspool
BASE=${BENCH_BASE:-}
BASE_FCGI=
if [ -n "$BASE" ]; then
    bcommit=$(git -C "$ROOT" rev-parse --verify "$BASE^{commit}") || die "BENCH_BASE=$BASE is not a commit"
    say "exporting the base $BASE ($bcommit) and building it"
    mkdir -p "$T/base-src"
    git -C "$ROOT" archive "$bcommit" | tar -x -C "$T/base-src"
    make -s -C "$T/base-src" all >"$T/base-build.log" 2>&1 ||
        { cat "$T/base-build.log" >&2; die "building $BASE failed"; }
    BASE_FCGI=$T/base-src/build/hookspool.fcgi
fi

say "building the bench programs into build/bench/"
mkdir -p "$BB"
CF="-O2 -g -Wall -Wextra"
cc $CF -o "$BB/reaper" "$HERE/reaper.c"
cc $CF -o "$BB/null_fcgi" "$HERE/null_fcgi.c" -lfcgi
cc $CF -o "$BB/trivial_cgi" "$HERE/trivial_cgi.c"
cc $CF -static -o "$BB/trivial_cgi_static" "$HERE/trivial_cgi.c"
# The OpenSSL floor of a CGI: static libcrypto warns about getaddrinfo
# and dlopen, which it never calls here.
cc $CF -static -o "$BB/hmac_cgi_static" "$HERE/hmac_cgi.c" -lcrypto -lpthread -ldl \
    >"$T/hmac-cgi-build.log" 2>&1 || { cat "$T/hmac-cgi-build.log" >&2; die "bench/hmac_cgi.c did not build"; }
cc $CF -o "$BB/fsync_rate" "$HERE/fsync_rate.c"
cc $CF -std=c11 -D_GNU_SOURCE -I"$INC" -o "$BB/null_flush" "$HERE/null_flush.c" \
    "$PROG/libhookspool.a" -lfcgi -lpthread
# -lz: the library's archive reads (since issue 19); an older revision's
# library does not need it, and linking it costs nothing there.
cc $CF -std=c11 -D_GNU_SOURCE -I"$INC" -o "$BB/handler_bench" "$HB_SRC" \
    "$PROG/libhookspool.a" -lcrypto -lsqlite3 -lz
# The large-body floor (bench/json_floor.cc) needs g++ and simdjson; make
# bench installs them, a plain bench/run.sh runs without it.
FLOOR=
if command -v g++ >/dev/null 2>&1 &&
   g++ -O2 -std=c++17 -o "$BB/json_floor" "$HERE/json_floor.cc" -lsimdjson >"$T/floor-build.log" 2>&1; then
    FLOOR=$BB/json_floor
else
    say "json_floor not built (g++ or libsimdjson-dev missing): the large-body floor is not measured"
fi
say "building a static hookspool (make STATIC=1 B=$T/static all)"
make -s -C "$SRC" STATIC=1 B="$T/static" all >"$T/static-build.log" 2>&1 ||
    { cat "$T/static-build.log" >&2; die "the static build failed"; }
STATIC_FCGI=$T/static/hookspool.fcgi

# ------------------------------------------------------------ the machine
CLK_TCK=$(getconf CLK_TCK)
fs_line=$(findmnt -n -o SOURCE,FSTYPE,OPTIONS -T "$T" 2>/dev/null || df -T "$T" | tail -1)
{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "quick=$QUICK"
    echo "nproc=$(nproc)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
    echo "cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(sha_ni|avx2|avx512f|aes)$' | tr '\n' ' ')"
    echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "kernel=$(uname -srm)"
    echo "virt=$(systemd-detect-virt 2>/dev/null || echo unknown)"
    echo "spool_dir=$T"
    echo "spool_fs=$fs_line"
    echo "spool_dev=$(df -P "$T" | awk 'NR==2 {print $1}')"
    echo "tmpfs=${TMPFS:-none}"
    echo "lighttpd=$("$LIGHTTPD" -v 2>&1 | head -1)"
    echo "wrk=$(wrk -v 2>&1 | head -1 | sed 's/ Copyright.*//')"
    echo "php=$(php-cgi -v 2>/dev/null | head -1)"
    echo "php_opcache=$(php-cgi -i 2>/dev/null | grep -m1 -o 'opcache.enable</td><td class="v">[^<]*' | sed 's/.*>//' || echo '?')"
    echo "openssl=$(openssl version)"
    echo "cc=$(cc --version | head -1)"
    echo "program=$PROG_DESC; hookspool.fcgi sha256 $(sha256sum "$FCGI" | cut -c1-16)"
    [ -z "$BASE" ] || echo "base=git archive $BASE = $bcommit; hookspool.fcgi sha256 $(sha256sum "$BASE_FCGI" | cut -c1-16)"
    echo "params=seconds=$SECS reps=$REPS procs=$PROCS conns=$CONNS wrk_threads=$THREADS warmup=${WARMUP}s cgi_seconds=$CGI_SECS pool=$POOL_N mem=$MEM_EARLY/$MEM_LATE fill=$FILL appends=$APPENDS php_max_requests=$PHP_MAX"
    echo "clk_tck=$CLK_TCK"
} >"$T/meta.txt" || true   # head and grep -m1 close their pipes early

# ------------------------------------------------------------ bodies
say "making the bodies and a pool of $POOL_N distinct signed events"
TPL=$T/body-1k.json
python3 "$HERE/bodies.py" body 1024 "$TPL"
python3 "$HERE/bodies.py" body 65536 "$T/body-64k.json"
python3 "$HERE/bodies.py" body 1048576 "$T/body-1m.json"
POOL=$T/pool.txt
WPOOL=$T/warm-pool.txt
python3 "$HERE/bodies.py" pool "$TPL" "$SECRET" "$POOL_N" "$POOL"
python3 "$HERE/bodies.py" pool "$TPL" "$SECRET" 50000 "$WPOOL" w
# The pool's signatures must be what hookspool computes (else every answer is 401).
rid=$(sed -n 7p "$POOL" | cut -c1-24)
want=$(sed -n 7p "$POOL" | cut -c26-)
got=$(sed "s/@RID@@@@@@@@@@@@@@@@@@@@/$rid/" "$TPL" | HOOKSPOOL_SECRET=$SECRET "$CLI" sign --scheme caliza | sed 's/^[^:]*: //')
[ "$got" = "$want" ] || die "bodies.py's signature ($want) differs from hookspool sign's ($got)"

# ------------------------------------------------------------ processes
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

kids() {   # the children of the running lighttpd
    [ -n "$SERVER_PID" ] || return 0
    cat /proc/"$SERVER_PID"/task/*/children 2>/dev/null || true
}

# utime+stime (+cutime+cstime: children it reaped, e.g. CGI processes or a
# restarted php-cgi) of pid, in ticks; 0 if it is gone.
proc_ticks() {
    local s rest
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || { echo 0; return; }
    rest=${s##*) }
    # shellcheck disable=SC2086
    set -- $rest
    echo $(( ${12} + ${13} ))
}
proc_ticks_all() {
    local s rest
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || { echo 0; return; }
    rest=${s##*) }
    # shellcheck disable=SC2086
    set -- $rest
    echo $(( ${12} + ${13} + ${14} + ${15} ))
}
# The server side: lighttpd (with what it reaped) plus its live children.
server_ticks() {
    local t k
    t=$(proc_ticks_all "$SERVER_PID")
    for k in $(kids); do t=$(( t + $(proc_ticks "$k") )); done
    echo "$t"
}
# This shell's reaped children (wrk), in ticks.
self_child_ticks() {
    local s rest
    read -r s <"/proc/$$/stat"
    rest=${s##*) }
    # shellcheck disable=SC2086
    set -- $rest
    echo $(( ${14} + ${15} ))
}
# All CPUs: busy steal total, in ticks.
sys_ticks() {
    local cpu u n s i w q sq st rest
    read -r cpu u n s i w q sq st rest </proc/stat
    echo "$(( u + n + s + q + sq + st )) $st $(( u + n + s + i + w + q + sq + st ))"
}

# CPU used by other sessions' processes (others' builds and tests on a
# shared machine), utime+stime+cutime+cstime summed over every process
# whose session is not ours, kernel threads aside. Reaped children count
# through their parents' cutime.
read -r _s <"/proc/$$/stat"; _r=${_s##*) }
# shellcheck disable=SC2086
set -- $_r
MYSID=$4
set --
foreign_ticks() {
    local f s rest t=0
    for f in /proc/[0-9]*/stat; do
        { read -r s <"$f"; } 2>/dev/null || continue
        rest=${s##*) }
        # shellcheck disable=SC2086
        set -- $rest
        [ "$4" = "$MYSID" ] || [ "$4" = 0 ] && continue
        t=$(( t + ${12} + ${13} + ${14} + ${15} ))
    done
    echo "$t"
}
# Other sessions' CPU between noise_begin and noise_end, in cores.
noise_begin() { NOISE_T0=$(foreign_ticks); NOISE_W0=$EPOCHREALTIME; }
noise_end() {
    local t1 w1
    t1=$(foreign_ticks); w1=$EPOCHREALTIME
    awk -v a="$NOISE_T0" -v b="$t1" -v w0="$NOISE_W0" -v w1="$w1" -v hz="$CLK_TCK" \
        'BEGIN {d = w1 - w0; v = 0; if (d > 0) v = (b - a) / hz / d; printf "%.2f", v}'
}

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_server CONF PORT WANT_KIDS: lighttpd -D under bench/reaper (which
# reaps its FastCGI processes and kills any that outlive it by 5 s).
start_server() {
    local conf=$1 port=$2 want=$3 i
    "$LIGHTTPD" -tt -f "$conf" >/dev/null 2>"$conf.check" || { cat "$conf.check" >&2; die "lighttpd rejects $conf"; }
    "$BB/reaper" 5 "$LIGHTTPD" -D -f "$conf" >"$conf.out" 2>&1 </dev/null &
    REAPER_PID=$!
    SERVER_PID=""
    SERVER_KIDS=""
    for i in $(seq 1 200); do
        kill -0 "$REAPER_PID" 2>/dev/null || { cat "$conf.out" >&2; REAPER_PID=""; die "lighttpd exited at start ($conf)"; }
        [ -n "$SERVER_PID" ] || SERVER_PID=$(cat /proc/"$REAPER_PID"/task/*/children 2>/dev/null | awk '{print $1}' || true)
        if [ -n "$SERVER_PID" ] && port_answers "$port"; then
            [ "$(kids | wc -w)" -ge "$want" ] && break
        fi
        sleep 0.1
    done
    [ -n "$SERVER_PID" ] && port_answers "$port" || die "lighttpd does not answer on 127.0.0.1:$port after 20 s"
    [ "$(kids | wc -w)" -ge "$want" ] || die "lighttpd started $(kids | wc -w) of $want FastCGI processes"
    SERVER_KIDS=$(kids)
    SERVER_CONF=$conf
}

# Stop lighttpd; sets HUNG to the number of its processes that were still
# running 5 s after it exited (killed by the reaper).
stop_server() {
    local i k
    HUNG=0
    [ -n "$REAPER_PID" ] || return 0
    SERVER_KIDS="$SERVER_KIDS $(kids)"
    kill -TERM "$REAPER_PID" 2>/dev/null || true
    for i in $(seq 1 200); do
        kill -0 "$REAPER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$REAPER_PID" 2>/dev/null; then
        say "warning: the server did not stop in 20 s: killing it"
        [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null || true
        for k in $SERVER_KIDS; do kill -KILL "$k" 2>/dev/null || true; done
        kill -KILL "$REAPER_PID" 2>/dev/null || true
    fi
    wait "$REAPER_PID" 2>/dev/null || true
    HUNG=$(grep -o 'reaper: [0-9]* processes still running' "$SERVER_CONF.out" 2>/dev/null | awk '{print $2}' | head -1 || true)
    HUNG=${HUNG:-0}
    [ "$HUNG" = 0 ] || say "warning: $HUNG FastCGI processes did not exit within 5 s of lighttpd stopping (killed)"
    REAPER_PID=""
    SERVER_PID=""
    SERVER_KIDS=""
}

# Private_Dirty Private_Clean Rss of pid (KiB) from smaps_rollup.
smaps() {
    awk '/^Private_Dirty:/ {d=$2} /^Private_Clean:/ {c=$2} /^Rss:/ {r=$2} END {printf "%d %d %d", d, c, r}' \
        "/proc/$1/smaps_rollup" 2>/dev/null || echo "0 0 0"
}

# The lighttpd configuration head common to every run.
conf_head() {   # DIR PORT MODULES...
    local dir=$1 port=$2
    shift 2
    local mods="" m
    for m in "$@"; do mods="$mods${mods:+, }\"$m\""; done
    mkdir -p "$dir/docroot" "$dir/uploads"
    cat <<EOF
server.modules = ( $mods )
server.document-root = "$dir/docroot"
server.upload-dirs = ( "$dir/uploads" )
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$dir/error.log"
server.breakagelog = "$dir/backend.log"
server.max-keep-alive-requests = 65535
server.max-keep-alive-idle = 30
EOF
}

# FastCGI configuration for one configuration name.
write_fcgi_conf() {   # CFG DIR PORT
    local cfg=$1 dir=$2 port=$3 fsync="never" dedup='"HOOKSPOOL_DEDUP" => "off",' bin=$FCGI
    conf_head "$dir" "$port" mod_fastcgi
    # base_<row>: the same row with BENCH_BASE's build.
    case $cfg in base_*) cfg=${cfg#base_} bin=$BASE_FCGI ;; esac
    case $cfg in
    hs_*)
        case $cfg in hs_always|hs_default|hs_storm) fsync=always ;; esac
        case $cfg in hs_dedup|hs_default|hs_storm) dedup="" ;; esac
        cat <<EOF
fastcgi.server = ( "/hook" => (( "bin-path" => "$bin",
    "socket" => "$dir/fcgi.sock", "max-procs" => $PROCS, "check-local" => "disable",
    "bin-copy-environment" => ( "PATH" ),
    "bin-environment" => ( "HOOKSPOOL_SPOOL" => "$dir/spool", "HOOKSPOOL_SECRET" => "$SECRET",
        "HOOKSPOOL_SCHEME" => "caliza", "HOOKSPOOL_FSYNC" => "$fsync", $dedup
        "HOOKSPOOL_ENDPOINT" => "caliza", "HOOKSPOOL_STATUS_TOKEN" => "$STATUS_TOKEN" ) )) )
EOF
        ;;
    null)
        cat <<EOF
fastcgi.server = ( "/hook" => (( "bin-path" => "$BB/null_fcgi",
    "socket" => "$dir/fcgi.sock", "max-procs" => $PROCS, "check-local" => "disable" )) )
EOF
        ;;
    null_flush)
        cat <<EOF
fastcgi.server = ( "/hook" => (( "bin-path" => "$BB/null_flush",
    "socket" => "$dir/fcgi.sock", "max-procs" => $PROCS, "check-local" => "disable",
    "bin-environment" => ( "NULL_FLUSH_FILE" => "$dir/events.jsonl", "NULL_FLUSH_ALONE" => "${NULL_FLUSH_ALONE:-0}"$([ -n "${NULL_FLUSH_PREALLOC:-}" ] && echo ", \"NULL_FLUSH_PREALLOC\" => \"$NULL_FLUSH_PREALLOC\"") ) )) )
EOF
        ;;
    php)
        mkdir -p "$dir/php"
        cp "$HERE/receiver.php" "$dir/docroot/receiver.php"
        cat <<EOF
fastcgi.server = ( ".php" => (( "bin-path" => "$(command -v php-cgi)",
    "socket" => "$dir/fcgi.sock", "max-procs" => $PROCS,
    "bin-copy-environment" => ( "PATH" ),
    "bin-environment" => ( "PHP_FCGI_CHILDREN" => "0", "PHP_FCGI_MAX_REQUESTS" => "$PHP_MAX",
        "HOOKSPOOL_SECRET" => "$SECRET", "BENCH_PHP_SPOOL" => "$dir/php" ) )) )
EOF
        ;;
    esac
}

# CGI configuration: BIN run per request by mod_cgi.
write_cgi_conf() {   # BIN DIR PORT
    local bin=$1 dir=$2 port=$3
    conf_head "$dir" "$port" mod_alias mod_cgi mod_setenv
    cat <<EOF
alias.url = ( "/hook" => "$bin" )
\$HTTP["url"] == "/hook" {
  cgi.assign = ( "" => "" )
  setenv.set-environment = ( "HOOKSPOOL_SPOOL" => "$dir/spool", "HOOKSPOOL_SECRET" => "$SECRET",
      "HOOKSPOOL_SCHEME" => "caliza", "HOOKSPOOL_FSYNC" => "never", "HOOKSPOOL_DEDUP" => "off",
      "HOOKSPOOL_ENDPOINT" => "caliza", "HOOKSPOOL_STATUS_TOKEN" => "$STATUS_TOKEN" )
}
EOF
}

# wrk POSTing pool events: run_wrk OUT URL SECONDS POOL [SKIP]
run_wrk() {
    BENCH_THREADS=$THREADS BENCH_TEMPLATE=$TPL BENCH_POOL=$4 BENCH_POOL_SKIP=${5:-0} BENCH_REPEAT=${REPEAT:-1} \
        timeout $(( $3 + 60 )) wrk -t"$THREADS" -c"$CONNS" -d"$3"s --timeout 10s --latency \
        -s "$HERE/post.lua" "$2" >"$1" 2>&1 || { cat "$1" >&2; die "wrk failed"; }
    grep -q '^BENCH ' "$1" || { cat "$1" >&2; die "wrk printed no result"; }
}

# wrk GETting the status with the token: get_wrk OUT URL SECONDS CONNECTIONS
get_wrk() {
    BENCH_STATUS_TOKEN=$STATUS_TOKEN timeout $(( $3 + 60 )) wrk -t1 -c"$4" -d"$3"s --timeout 10s \
        --latency -s "$HERE/get.lua" "$2" >"$1" 2>&1 || { cat "$1" >&2; die "wrk failed"; }
    grep -q '^BENCH ' "$1" || { cat "$1" >&2; die "wrk printed no result"; }
}

# The BENCH line of a wrk output, without "BENCH ".
bench_line() { grep '^BENCH ' "$1" | sed 's/^BENCH //'; }

# Lines in a spool (every segment) or a file.
count_lines() {
    local n=0
    if [ -d "$1" ]; then
        n=$(find "$1/active" "$1/ready" -name '*.jsonl' -exec cat {} + 2>/dev/null | wc -l || true)
    elif [ -f "$1" ]; then
        n=$(wc -l <"$1")
    fi
    echo "$n"
}

# One measured run of the lighttpd configured in DIR/lighttpd.conf: start,
# warm up, measure, stop. STORE is the spool (or PHP's file) whose lines
# are counted, "" for none.
measure() {   # KIND CFG REP DIR PORT URLPATH SECONDS WANT_KIDS STORE
    local kind=$1 cfg=$2 rep=$3 dir=$4 port=$5 path=$6 secs=$7 want=$8 store=$9
    local url="http://127.0.0.1:$port$path" l0 l1 s0 s1 c0 c1 y0 y1 w0 w1 f0 f1 k mem=""
    start_server "$dir/lighttpd.conf" "$port" "$want"
    run_wrk "$dir/warmup.txt" "$url" "$WARMUP" "$WPOOL"
    sleep 0.3
    l0=$(count_lines "$store")
    sync
    f0=$(foreign_ticks); s0=$(server_ticks); y0=$(sys_ticks); c0=$(self_child_ticks); w0=$EPOCHREALTIME
    run_wrk "$dir/wrk.txt" "$url" "$secs" "$POOL"
    w1=$EPOCHREALTIME; c1=$(self_child_ticks); y1=$(sys_ticks); s1=$(server_ticks); f1=$(foreign_ticks)
    sleep 0.3
    l1=$(count_lines "$store")
    if [ "$kind" = fcgi ]; then
        for k in $(kids); do
            mem="$mem $(smaps "$k" | tr ' ' ','),$(ls "/proc/$k/task" 2>/dev/null | wc -l)"
        done
    fi
    stop_server
    rec "$kind cfg=$cfg rep=$rep hung=$HUNG $(grep '^BENCH ' "$dir/wrk.txt" | sed 's/^BENCH //') server_ticks=$(( s1 - s0 )) client_ticks=$(( c1 - c0 )) sys_busy=$(( ${y1%% *} - ${y0%% *} )) sys_steal=$(( $(echo "$y1" | cut -d' ' -f2) - $(echo "$y0" | cut -d' ' -f2) )) sys_total=$(( ${y1##* } - ${y0##* } )) window_us=$(( ${w1/./} - ${w0/./} )) foreign_ticks=$(( f1 - f0 )) lines=$(( l1 - l0 )) store=$([ -n "$store" ] && echo yes || echo no) mem=$(echo $mem | tr ' ' ';')"
    grep -h . "$dir/backend.log" 2>/dev/null | head -3 | sed "s/^/bench: $cfg log: /" >&2 || true
    say "  $cfg #$rep: $(grep '^Requests/sec' "$dir/wrk.txt" | tr -s ' ') $(grep -E 'Non-2xx|Socket errors' "$dir/wrk.txt" | tr -s ' ' | tr '\n' ' ')"
}

clean_run() {   # DIR
    sync
    [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$1"
    sync
}

fsync_rate() {   # TAG
    local out
    noise_begin
    out=$("$BB/fsync_rate" "$T" "$FSECS" 1024)
    rec "fsync tag=$1 ${out#fsync_rate } other_cores=$(noise_end)"
    say "  disk: ${out#fsync_rate }"
}

# How busy is the machine before we start? (Others' builds and tests skew
# every number: the report marks runs during which other processes used
# CPU.) BENCH_WAIT_QUIET=S waits up to S seconds for it to calm down.
busy_cores() {   # CPU used by other sessions over 2 s, in cores
    noise_begin; sleep 2; noise_end
}
quiet_deadline=$(( $(date +%s) + ${BENCH_WAIT_QUIET:-0} ))
load=$(busy_cores)
while awk -v l="$load" 'BEGIN {exit !(l > 0.2)}' && [ "$(date +%s)" -lt "$quiet_deadline" ]; do
    say "the machine is busy ($load cores used by other processes): waiting"
    sleep 10
    load=$(busy_cores)
done
echo "busy_at_start=$load" >>"$T/meta.txt"
awk -v l="$load" 'BEGIN {exit !(l > 0.2)}' &&
    say "warning: other processes use $load cores: expect noisy numbers (the report marks noisy runs)"

# ------------------------------------------------------------ 9. the status
# What a status costs with 0 and with STATUS_SEGS segments waiting in
# ready/ (the directory hookspool lists for the figures), and what a flood
# of GETs costs the POSTs, with CONNS/2 connections on each side.
status_bench() {
    local n dir port url half=$(( CONNS / 2 > 0 ? CONNS / 2 : 1 )) flood
    say "status: GET and POST latency with 0 and $STATUS_SEGS segments in ready/ ($SECS s runs)"
    for n in 0 "$STATUS_SEGS"; do
        dir=$T/status-$n
        mkdir -p "$dir"
        port=$(free_port)
        write_fcgi_conf hs_never "$dir" "$port" >"$dir/lighttpd.conf"
        start_server "$dir/lighttpd.conf" "$port" "$PROCS"
        url=http://127.0.0.1:$port/hook
        run_wrk "$dir/warmup.txt" "$url" "$WARMUP" "$WPOOL"    # creates the spool
        python3 - "$dir/spool/ready" "$n" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
line = b'{"id":"x","event":{}}\n'
for i in range(n):
    fd = os.open(os.path.join(d, "%s-bench-%07d.jsonl" % (stamp, i)),
                 os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, line)
    os.close(fd)
PY
        sync
        get_wrk "$dir/get.txt" "$url" "$SECS" "$half"
        rec "status segments=$n what=get_fcgi $(bench_line "$dir/get.txt")"
        CONNS=$half run_wrk "$dir/post.txt" "$url" "$SECS" "$POOL"
        rec "status segments=$n what=post_alone $(bench_line "$dir/post.txt")"
        get_wrk "$dir/flood.txt" "$url" $(( SECS + 2 )) "$half" &
        flood=$!
        sleep 1
        CONNS=$half run_wrk "$dir/post-flood.txt" "$url" "$SECS" "$POOL"
        wait "$flood" || die "the GET flood failed"
        rec "status segments=$n what=post_flood $(bench_line "$dir/post-flood.txt")"
        rec "status segments=$n what=get_flood $(bench_line "$dir/flood.txt")"
        stop_server
        # The same spool through plain CGI: a new process per GET.
        port=$(free_port)
        write_cgi_conf "$FCGI" "$dir" "$port" >"$dir/lighttpd-cgi.conf"
        start_server "$dir/lighttpd-cgi.conf" "$port" 0
        get_wrk "$dir/get-cgi.txt" "http://127.0.0.1:$port/hook" "$SECS" "$half"
        rec "status segments=$n what=get_cgi $(bench_line "$dir/get-cgi.txt")"
        stop_server
        say "  $n segments: GET p50 $(grep -o 'p50_us=[0-9]*' "$dir/get.txt") (CGI $(grep -o 'p50_us=[0-9]*' "$dir/get-cgi.txt")), POST p50 alone $(grep -o 'p50_us=[0-9]*' "$dir/post.txt"), under the GET flood $(grep -o 'p50_us=[0-9]*' "$dir/post-flood.txt")"
        clean_run "$dir"
    done
}

# BENCH_ONLY=status: only the status measurement (sections 1 to 6 are
# skipped up to the matching "fi" before the report).
if [ "$ONLY" = status ]; then
    status_bench
else
if [ "$ONLY" != prof ]; then
# ------------------------------------------------------------ 1. FastCGI
say "disk flush rate before the FastCGI series ($FSECS s)"
fsync_rate before

FCGI_CFGS=${BENCH_CFGS:-hs_never hs_always hs_dedup hs_default hs_storm null null_flush php}
for cfg in $FCGI_CFGS; do
    case $cfg in hs_never|hs_always|hs_dedup|hs_default|hs_storm|null|null_flush|php) ;;
    *) die "BENCH_CFGS: unknown row '$cfg'" ;; esac
done
say "FastCGI: $REPS x ($FCGI_CFGS), $SECS s each, $PROCS processes, $CONNS connections${BASE:+, each hookspool row beside the same row of $BASE}"
for rep in $(seq 1 "$REPS"); do
    cfgs=
    for cfg in $FCGI_CFGS; do
        case $cfg in
        hs_*) if [ -z "$BASE" ]; then cfgs="$cfgs $cfg"
              elif [ $(( rep % 2 )) = 1 ]; then cfgs="$cfgs base_$cfg $cfg"
              else cfgs="$cfgs $cfg base_$cfg"; fi ;;
        *) cfgs="$cfgs $cfg" ;;
        esac
    done
    for cfg in $cfgs; do
        dir=$T/fcgi-$cfg-$rep
        mkdir -p "$dir"
        port=$(free_port)
        write_fcgi_conf "$cfg" "$dir" "$port" >"$dir/lighttpd.conf"
        case $cfg in
        php) path=/receiver.php store=$dir/php/events.jsonl ;;
        null) path=/hook store="" ;;
        null_flush) path=/hook store=$dir/events.jsonl ;;
        *) path=/hook store=$dir/spool ;;
        esac
        REPEAT=1
        case $cfg in hs_storm|base_hs_storm) REPEAT=2 ;; esac
        REPEAT=$REPEAT measure fcgi "$cfg" "$rep" "$dir" "$port" "$path" "$SECS" "$PROCS" "$store"
        clean_run "$dir"
    done
done

say "disk flush rate after the FastCGI series"
fsync_rate after
fi   # BENCH_ONLY=prof (section 1)
if [ "$ONLY" != fcgi ]; then

# ------------------------------------------------------------ 7. perf
# Where the server CPU goes, for fsync=never and fsync=always without
# dedup, fsync=never with dedup and the default (fsync=always, dedup
# on): the differences between them are what issue 18 asks about. For each: scheduler figures
# per request from /proc/PID/task/*/schedstat (CPU time, time waiting for
# a CPU, and times put on a CPU, i.e. wake-ups) over one wrk run, then a
# perf profile of a second run on the same server (other events, so
# dedup sees no duplicates).
PROF_CFGS=${BENCH_PROF_CFGS:-"hs_never hs_always hs_dedup hs_default null_flush"}
perf_ok=0
if [ "$PERF" != 0 ] && command -v perf >/dev/null 2>&1 &&
   perf record -e cpu-clock -o "$T/perf-probe.data" -- true >/dev/null 2>&1; then
    perf_ok=1
fi
[ "$PERF" = 1 ] && [ "$perf_ok" = 0 ] && die "BENCH_PERF=1 but perf record does not work here"
# Flushes and futex calls counted at the system-call tracepoints while the
# schedstat run goes (unlike strace, this does not slow the run, so the
# group commit's sharing is what it is unobserved).
PERF_CALLS="syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_futex"
perf_calls_ok=0
if [ "$perf_ok" = 1 ] && perf stat -e "$PERF_CALLS" -o "$T/perf-calls-probe.txt" -- true >/dev/null 2>&1; then
    perf_calls_ok=1
fi
# The sum of fields 1-3 of the schedstat of every thread of the given
# processes: "run_ns wait_ns slices".
schedstat_sum() {
    local p f a b c ra=0 rb=0 rc=0
    for p in "$@"; do
        for f in /proc/"$p"/task/*/schedstat; do
            { read -r a b c <"$f"; } 2>/dev/null || continue
            ra=$((ra + a)) rb=$((rb + b)) rc=$((rc + c))
        done
    done
    echo "$ra $rb $rc"
}
# A configuration's name as the report prints it (bench/report.py's
# FCGI_ROWS owns the names).
cfg_name() {
    python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import report
print(dict(report.FCGI_ROWS).get(sys.argv[2], sys.argv[2]))' "$HERE" "$1"
}
: >"$T/perf.txt"
for cfg in $PROF_CFGS; do
    say "schedstat and perf: where a $cfg run's server CPU goes ($PSECS s each)"
    dir=$T/perf-$cfg
    mkdir -p "$dir"
    port=$(free_port)
    write_fcgi_conf "$cfg" "$dir" "$port" >"$dir/lighttpd.conf"
    start_server "$dir/lighttpd.conf" "$port" "$PROCS"
    pids="$SERVER_PID $(kids)"
    run_wrk "$dir/warmup.txt" "http://127.0.0.1:$port/hook" "$WARMUP" "$WPOOL"
    calls_pid=
    if [ "$perf_calls_ok" = 1 ]; then
        # -a would count lighttpd and wrk too: the FastCGI processes only.
        perf stat -x, -e "$PERF_CALLS" -p "$(echo $(kids) | tr ' ' ',')" -o "$dir/calls.txt" \
            -- sleep $(( PSECS + 30 )) >/dev/null 2>&1 &
        calls_pid=$!
        sleep 0.2
    fi
    # shellcheck disable=SC2086
    s0=$(schedstat_sum $(kids))
    run_wrk "$dir/sched.txt" "http://127.0.0.1:$port/hook" "$PSECS" "$POOL" 0
    # shellcheck disable=SC2086
    s1=$(schedstat_sum $(kids))
    if [ -n "$calls_pid" ]; then kill -INT "$calls_pid" 2>/dev/null || true; wait "$calls_pid" || true; fi
    reqs=$(grep -o 'BENCH requests=[0-9]*' "$dir/sched.txt" | head -1 | cut -d= -f2)
    {
        echo "# $(cfg_name "$cfg")"
        python3 - "$s0" "$s1" "${reqs:-0}" <<'PY'
import sys
a, b, n = [int(x) for x in sys.argv[1].split()], [int(x) for x in sys.argv[2].split()], int(sys.argv[3])
if n <= 0:
    print("schedstat: no requests counted")
else:
    print("schedstat of the hookspool.fcgi threads over %d requests: on CPU %.1f µs/req, "
          "waiting for a CPU %.1f µs/req, %.2f times put on a CPU (wake-ups) per request"
          % (n, (b[0] - a[0]) / 1e3 / n, (b[1] - a[1]) / 1e3 / n, (b[2] - a[2]) / n))
PY
        if [ -s "$dir/calls.txt" ]; then
            python3 - "$dir/calls.txt" "${reqs:-0}" <<'PY'
import sys
n, got = int(sys.argv[2]), {}
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].isdigit():
        got[f[2].split(":")[-1].replace("sys_enter_", "")] = int(f[0])
if n > 0 and got:
    print("system calls at their tracepoints over the same requests (perf stat, from a little before to a little after): "
          + ", ".join("%s %.2f" % (k, v / n) for k, v in sorted(got.items())) + " per request")
PY
        fi
    } >>"$T/perf.txt"
    if [ "$perf_ok" = 1 ]; then
        BENCH_THREADS=$THREADS BENCH_TEMPLATE=$TPL BENCH_POOL=$POOL BENCH_POOL_SKIP=150000 \
            timeout $(( 2 * PSECS + 60 )) wrk -t"$THREADS" -c"$CONNS" -d$(( 2 * PSECS + 2 ))s --timeout 10s \
            -s "$HERE/post.lua" "http://127.0.0.1:$port/hook" >"$dir/wrk.txt" 2>&1 &
        wrk_pid=$!
        sleep 1
        perf record -q -e cpu-clock -F 1999 -g -p "$(echo $pids | tr ' ' ',')" -o "$dir/perf.data" \
            -- sleep "$PSECS" >/dev/null 2>&1 || true
        perf stat -e task-clock,context-switches,cpu-migrations,page-faults -p "$(echo $(kids) | tr ' ' ',')" \
            -o "$dir/perf-stat.txt" -- sleep "$PSECS" >/dev/null 2>&1 || true
        wait "$wrk_pid" || true
        {
            echo "perf record -e cpu-clock on lighttpd and its $PROCS hookspool.fcgi processes"
            echo "## by process and object (% of all samples)"
            perf report -i "$dir/perf.data" --stdio --no-children --sort comm,dso -g none 2>/dev/null |
                grep -v '^#' | grep -v '^$' | head -25
            echo "## hookspool.fcgi by symbol (% of its own samples)"
            perf report -i "$dir/perf.data" --stdio --no-children --percentage relative --comms hookspool.fcgi \
                --sort dso,sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
            echo "## hookspool.fcgi, inclusive (children) by symbol: the calls under which its time is spent"
            perf report -i "$dir/perf.data" --stdio --children --percentage relative --comms hookspool.fcgi \
                --sort sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -60
            echo "## lighttpd by symbol (% of its own samples)"
            perf report -i "$dir/perf.data" --stdio --no-children --percentage relative --comms lighttpd \
                --sort dso,sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -15
            echo "## perf stat of the hookspool.fcgi processes ($PSECS s, while $(grep -o 'Requests/sec: *[0-9.]*' "$dir/wrk.txt" | tr -s ' ') over the whole wrk run)"
            grep -E 'task-clock|context-switches|migrations|page-faults|seconds time' "$dir/perf-stat.txt" | sed 's/^ *//'
            echo
        } >>"$T/perf.txt" 2>&1 || true   # head closes its pipes early
    fi
    stop_server
    clean_run "$dir"
done
rec "perf file=$T/perf.txt"

# ------------------------------------------------------- 8. system calls
# The system calls each request makes, counted by strace -c on the
# FastCGI processes during a short wrk run (strace slows the run; the
# counts per request hold): fdatasync per request is the group commit's
# flushes, futex the wake-ups between threads.
if command -v strace >/dev/null 2>&1; then
    for cfg in hs_never hs_always hs_dedup hs_default null; do
        say "strace: system calls per request, $cfg"
        dir=$T/strace-$cfg
        mkdir -p "$dir"
        port=$(free_port)
        write_fcgi_conf "$cfg" "$dir" "$port" >"$dir/lighttpd.conf"
        start_server "$dir/lighttpd.conf" "$port" "$PROCS"
        run_wrk "$dir/warmup.txt" "http://127.0.0.1:$port/hook" "$WARMUP" "$WPOOL"
        spids=""
        for k in $(kids); do
            strace -c -f -qq -o "$dir/strace.$k" -p "$k" 2>/dev/null &
            spids="$spids $!"
        done
        sleep 1
        run_wrk "$dir/wrk.txt" "http://127.0.0.1:$port/hook" 3 "$POOL" 0
        sleep 0.5
        for p in $spids; do kill -INT "$p" 2>/dev/null || true; done
        for p in $spids; do wait "$p" 2>/dev/null || true; done
        stop_server
        reqs=$(grep -o 'BENCH requests=[0-9]*' "$dir/wrk.txt" | head -1 | cut -d= -f2)
        python3 - "$(cfg_name "$cfg")" "${reqs:-0}" "$dir"/strace.* >>"$T/strace.txt" <<'PY'
import sys, collections
name, reqs, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
calls = collections.Counter()
for f in files:
    for line in open(f):
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] not in ("total", "syscall"):
            try:
                calls[parts[-1]] += int(parts[3])
            except ValueError:
                pass
# futex, accept and poll are where idle threads wait: counted, and shown
if reqs <= 0:
    print("%s: no requests counted" % name)
else:
    tot = sum(calls.values())
    print("%s: %.1f system calls per request (%d requests under strace): %s" % (
        name, tot / reqs, reqs,
        ", ".join("%s %.2f" % (k, v / reqs) for k, v in calls.most_common() if v / reqs >= 0.05)))
PY
        clean_run "$dir"
    done
    { echo; echo "## system calls per request (strace -c -f on the FastCGI processes during a 3 s wrk run)"; cat "$T/strace.txt"; } >>"$T/perf.txt"
else
    say "strace missing: no system-call counts (apt-get install strace)"
fi
if [ "$ONLY" != prof ]; then

# ------------------------------------------------------------ 3. CGI
CGI_CFGS="hs_cgi_dyn hs_cgi_static triv_dyn triv_static hmac_static"
say "CGI: $REPS x ($CGI_CFGS), $CGI_SECS s each"
for rep in $(seq 1 "$REPS"); do
    for cfg in $CGI_CFGS; do
        dir=$T/cgi-$cfg-$rep
        mkdir -p "$dir"
        port=$(free_port)
        case $cfg in
        hs_cgi_dyn) bin=$FCGI store=$dir/spool ;;
        hs_cgi_static) bin=$STATIC_FCGI store=$dir/spool ;;
        triv_dyn) bin=$BB/trivial_cgi store="" ;;
        triv_static) bin=$BB/trivial_cgi_static store="" ;;
        hmac_static) bin=$BB/hmac_cgi_static store="" ;;
        esac
        write_cgi_conf "$bin" "$dir" "$port" >"$dir/lighttpd.conf"
        measure cgi "$cfg" "$rep" "$dir" "$port" /hook "$CGI_SECS" 0 "$store"
        clean_run "$dir"
    done
done

# ------------------------------------------------------------ 4. memory
say "memory: hookspool.fcgi (dedup on, fsync=never) after $MEM_EARLY and $MEM_LATE requests"
dir=$T/mem
mkdir -p "$dir"
port=$(free_port)
write_fcgi_conf hs_dedup "$dir" "$port" >"$dir/lighttpd.conf"
start_server "$dir/lighttpd.conf" "$port" "$PROCS"
accepted() {   # the spool's accepted counter (status exits 1 when degraded)
    local st n
    st=$("$CLI" status -s "$dir/spool" 2>/dev/null || true)
    case $st in *'"accepted":'*) n=${st#*\"accepted\":}; n=${n%%[!0-9]*} ;; *) n=0 ;; esac
    echo "${n:-0}"
}
skip=0
for target in 1 "$MEM_EARLY" "$MEM_LATE"; do
    BENCH_THREADS=$THREADS BENCH_TEMPLATE=$TPL BENCH_POOL=$POOL BENCH_POOL_SKIP=$skip \
        timeout 900 wrk -t"$THREADS" -c"$CONNS" -d600s --timeout 10s \
        -s "$HERE/post.lua" "http://127.0.0.1:$port/hook" >"$dir/wrk-$target.txt" 2>&1 &
    wrk_pid=$!
    deadline=$(( $(date +%s) + 600 ))
    while [ "$(accepted)" -lt "$target" ] && [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$wrk_pid" 2>/dev/null; do
        sleep 0.1
    done
    kill -INT "$wrk_pid" 2>/dev/null || true
    wait "$wrk_pid" || true
    sent=$(grep -o 'requests=[0-9]*' "$dir/wrk-$target.txt" | cut -d= -f2 || true)
    bad=$(grep -o 'status_errors=[0-9]*' "$dir/wrk-$target.txt" | cut -d= -f2 || true)
    skip=$(( skip + ${sent:-0} + CONNS + 1000 ))
    sleep 0.5
    n=$(accepted)
    i=0
    for k in $(kids); do
        read -r d c r <<<"$(smaps "$k")"
        rec "mem target=$target accepted=$n proc=$i pid=$k private_dirty_kib=$d private_clean_kib=$c rss_kib=$r status_errors=${bad:-0}"
        i=$(( i + 1 ))
    done
    say "  after $n accepted: $(for k in $(kids); do smaps "$k"; echo -n ' | '; done)(Private_Dirty Private_Clean Rss KiB)"
done
stop_server
clean_run "$dir"

# ------------------------------------------------------------ 5. in-process
say "in-process handler throughput ($HSECS s per size)"
if [ -n "$TMPFS" ] && [ -d "$TMPFS" ] && [ -w "$TMPFS" ]; then
    SHM=$(mktemp -d "$TMPFS/hookspool-bench.XXXXXX")
fi
for where in tmpfs disk; do
    if [ "$where" = tmpfs ]; then [ -n "$SHM" ] || continue; base=$SHM; else base=$T; fi
    for size in 1k 64k 1m; do
        sp=$base/handler-$size
        noise_begin
        out=$("$BB/handler_bench" throughput "$sp" "$T/body-$size.json" "$HSECS" || true)
        rec "handler where=$where $(echo "$out" | grep '^handler ' | sed 's/^handler //') other_cores=$(noise_end)"
        rec "parts where=$where $(echo "$out" | grep '^parts ' | sed 's/^parts //')"
        say "  $where $size: $(echo "$out" | grep '^handler ' | grep -o ' mb_per_s=[0-9.]*' | tr -d ' ')"
        rm -rf "$sp"
    done
    if [ -n "$FLOOR" ]; then
        noise_begin
        out=$("$FLOOR" "$T/body-1m.json" "$base" "$HSECS" || true)
        rec "floor where=$where $(echo "$out" | grep '^floor ' | sed 's/^floor //') other_cores=$(noise_end)"
        say "  $where floor (simdjson): $(echo "$out" | grep '^floor ' | sed 's/^floor //')"
    fi
done
noise_begin
ossl=$(openssl speed -evp sha256 -bytes 1048576 -seconds "$OSSL_SECS" 2>/dev/null | awk '$1 == "sha256" {print $2}' || true)
rec "openssl sha256_1m=${ossl:-0} other_cores=$(noise_end)"
say "  openssl speed -evp sha256 -bytes 1048576: $ossl (1000s of bytes/s)"

# ------------------------------------------------------------ 6. append cost
say "append cost: filling a spool with $FILL lines and keys"
full=$T/append-full
fill_out=$("$BB/handler_bench" fill "$full" "$TPL" "$FILL")
echo "$fill_out" | sed 's/^/bench:   /' >&2
rec "$(echo "$fill_out" | grep '^fill lines')"
sync
for rep in $(seq 1 "$REPS"); do
    empty=$T/append-empty-$rep
    noise_begin
    out=$("$BB/handler_bench" append "$empty" "$TPL" "$APPENDS" "e$rep" || true)
    rec "append spool=empty rep=$rep ${out#append } other_cores=$(noise_end)"
    say "  empty #$rep: ${out#append }"
    clean_run "$empty"
    noise_begin
    out=$("$BB/handler_bench" append "$full" "$TPL" "$APPENDS" "a$rep" || true)
    rec "append spool=full rep=$rep ${out#append } other_cores=$(noise_end)"
    say "  full  #$rep: ${out#append }"
    sync
done
clean_run "$full"

status_bench
fi   # BENCH_ONLY=prof
fi   # BENCH_ONLY=fcgi
fi

# ------------------------------------------------------------ the report
say "writing the report"
python3 "$HERE/report.py" "$T/meta.txt" "$RES" "$T/perf.txt" >"$T/report.md"
cp "$T/report.md" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
cat "$T/report.md"
say "report written to ${OUT#"$ROOT"/}"
