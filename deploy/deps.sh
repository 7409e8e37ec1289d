#!/bin/sh
# Install the Debian packages a goal needs, and only those:
#
#   sh deploy/deps.sh build   the compiler and the three libraries (make)
#   sh deploy/deps.sh demo    build + lighttpd, curl, python3 (make run)
#   sh deploy/deps.sh test    demo + everything the tests start (make test,
#                             make fuzz): MariaDB, Apache, nginx, valgrind,
#                             clang, ...
#   EXTRA="..."               more packages on top (make bench)
#
# As root: apt-get installs what is missing, without starting any service
# (see policy-rc.d below). Otherwise: print the exact command and fail, so
# nothing half-works.
set -u
GOAL=${1:-test}
BUILD_PKGS="gcc make libc6-dev libfcgi-dev libssl-dev libsqlite3-dev zlib1g-dev"
DEMO_PKGS="$BUILD_PKGS lighttpd curl python3"
# libclang-rt-dev is Debian's default clang's runtimes (libFuzzer, ASan,
# UBSan), whatever clang version that is.
# chromium: test_page renders the status page headless. python3-cryptography:
# test_keys makes the Ed25519 and P-256 keys it signs with.
# fuse3 and python3-fusepy: test_powercut's filesystem that forgets what
# was not flushed. nodejs and npm run the providers' SDKs that test_senders uses as
# oracles (tests/oracle/, installed below with npm ci from its lock file).
TEST_PKGS="$DEMO_PKGS sqlite3 mariadb-server mariadb-client php-cli php-mysql valgrind clang libclang-rt-dev apache2 libapache2-mod-fcgid nginx spawn-fcgi multiwatch strace nodejs fuse3 python3-fusepy chromium python3-cryptography"
# Debian's nodejs comes without npm; a nodejs that brings its own npm
# conflicts with Debian's npm package, so npm is asked for only when absent.
command -v npm >/dev/null 2>&1 || TEST_PKGS="$TEST_PKGS npm"
case $GOAL in
    build) PKGS=$BUILD_PKGS ;;
    demo)  PKGS=$DEMO_PKGS ;;
    test)  PKGS=$TEST_PKGS ;;
    *) echo "deps.sh: unknown goal '$GOAL' (build, demo or test)" >&2; exit 2 ;;
esac
PKGS="${EXTRA:-} $PKGS"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
done
# The test goal's SDK oracles: tests/oracle/node_modules from the
# committed package-lock.json, exactly (npm ci), when node and npm exist.
oracles() {
    [ "$GOAL" = test ] || return 0
    dir=$(dirname "$0")/../tests/oracle
    [ -f "$dir/package-lock.json" ] || return 0
    command -v npm >/dev/null 2>&1 || { echo "hookspool: npm missing: tests/oracle not installed" >&2; return 1; }
    [ -d "$dir/node_modules" ] && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] && return 0
    (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts >&2) ||
        { echo "hookspool: npm ci in tests/oracle failed" >&2; return 1; }
}
if [ -z "$missing" ]; then
    oracles
    exit $?
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "hookspool: missing packages:$missing" >&2
    echo "run as root:  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi
echo "hookspool: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# On a machine with an init system, installing apache2, nginx or lighttpd
# starts each on port 80; the second then fails to start, its post-install
# fails and apt-get exits non-zero. The demo and the tests start their own
# instances on free loopback ports, so no service is started while we
# install: a policy-rc.d that denies every start (exit 101), put in place
# only when the machine has none, and removed afterwards.
POLICY=/usr/sbin/policy-rc.d
ours=0
if [ ! -e "$POLICY" ] && [ ! -L "$POLICY" ]; then
    printf '#!/bin/sh\n# hookspool deploy/deps.sh: no service starts during its install\nexit 101\n' > "$POLICY" &&
        chmod 755 "$POLICY" && ours=1 || { echo "hookspool: cannot write $POLICY" >&2; exit 1; }
    trap 'rm -f "$POLICY"' EXIT INT TERM
fi
rc=0
apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends $missing >&2 || rc=1
if [ "$ours" = 1 ]; then
    rm -f "$POLICY" || { echo "hookspool: cannot remove $POLICY" >&2; rc=1; }
    trap - EXIT INT TERM
fi
[ $rc = 0 ] && { oracles || rc=1; }
exit $rc
