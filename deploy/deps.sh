#!/bin/sh
# Install the Debian packages hookspool's build, demo and tests need.
# As root: apt-get installs what is missing. Otherwise: print the exact
# command and fail, so nothing half-works.
set -u
# EXTRA="..." (make bench: wrk, php-cgi, perf) adds packages to the list.
PKGS="${EXTRA:-} gcc make libc6-dev libfcgi-dev libssl-dev libsqlite3-dev sqlite3 lighttpd curl python3 mariadb-server mariadb-client php-cli php-mysql valgrind clang libclang-rt-14-dev apache2 libapache2-mod-fcgid nginx spawn-fcgi multiwatch strace"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "hookspool: missing packages:$missing" >&2
    echo "run as root:  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi
echo "hookspool: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends $missing >&2 || exit 1
# A Debian lighttpd package starts a system instance on port 80 where an
# init system runs; the demo and the tests never use it.
exit 0
