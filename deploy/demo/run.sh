#!/bin/sh
# hookspool demo: lighttpd on 127.0.0.1:PORT spawning two build/hookspool.fcgi
# FastCGI processes for /hooks/caliza (what `make run` runs after the build).
#
#   sh deploy/demo/run.sh [PORT]
#
# Everything it writes lives under ./var/ (or $HOOKSPOOL_DEMO_DIR, which
# the tests use): the lighttpd configuration in var/demo/, the spool in
# var/spool/. The settings are in the lighttpd
# configuration (bin-environment), never in a hookspool.conf under build/.
# lighttpd runs in the foreground; Ctrl-C stops it and its FastCGI
# processes.
set -eu

PORT=${1:-8080}
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
SECRET='AXxDmWTa0fcdoT6CsR5DhmijZaaaHwY+77sVZs/x4ro='   # the demo secret, used literally
STATUS_TOKEN='demo-status-token'   # the demo's HOOKSPOOL_STATUS_TOKEN: GET shows the figures
URL_PATH=/hooks/caliza
EXAMPLE=$ROOT/tests/data/caliza/TRANSACTION_COMPLETED.json
VAR=${HOOKSPOOL_DEMO_DIR:-$ROOT/var}
DEMO=$VAR/demo
SPOOL=$VAR/spool
CONF=$DEMO/lighttpd.conf

die() { echo "hookspool demo: $*" >&2; exit 1; }

case $PORT in
    ''|*[!0-9]*) die "PORT must be a number from 1 to 65535, not '$PORT'" ;;
esac
[ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] || die "PORT must be from 1 to 65535, not $PORT"

for f in build/hookspool.fcgi build/hookspool; do
    [ -x "$f" ] || die "$f is missing: run make first"
done
LIGHTTPD=$(command -v lighttpd 2>/dev/null || true)
[ -n "$LIGHTTPD" ] || for c in /usr/sbin/lighttpd /usr/local/sbin/lighttpd; do
    [ -x "$c" ] && LIGHTTPD=$c && break
done
[ -n "$LIGHTTPD" ] || die "lighttpd is not installed: run make deps"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to check the port: run make deps"
case $ROOT$VAR in
    *'"'*|*'\'*) die "the work tree's path ($ROOT) holds a quote or backslash: lighttpd.conf cannot name it" ;;
esac

# Refuse a port someone already listens on (lighttpd binds with
# SO_REUSEADDR too, so a port in TIME_WAIT is fine).
if ! err=$(python3 - "$PORT" <<'EOF' 2>&1
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as e:
    print(e.strerror or e)
    sys.exit(1)
finally:
    s.close()
EOF
); then
    die "port $PORT on 127.0.0.1 is taken ($err): stop what uses it, or choose another: make run PORT=8081"
fi

mkdir -p "$DEMO/docroot" "$DEMO/tmp"
# One socket name per port: a demo on another port keeps its own. No
# lighttpd listens on this port, so a socket of that name is stale.
SOCK=$DEMO/hookspool-$PORT.sock
rm -f "$SOCK"-[0-9]*

cat >"$CONF" <<EOF
# Written by deploy/demo/run.sh; rewritten on every run.
server.modules = ( "mod_fastcgi" )
server.bind = "127.0.0.1"
server.port = $PORT
server.document-root = "$DEMO/docroot"
server.upload-dirs = ( "$DEMO/tmp" )
# The body cap, in KiB: HOOKSPOOL_MAX_BODY (1024 KiB) plus 64 KiB, so that
# lighttpd does not buffer a body of any size in $DEMO/tmp before hookspool
# can refuse it (deploy/lighttpd/50-hookspool.conf says more).
server.max-request-size = 1088
# No server.errorlog: in the foreground lighttpd and hookspool (whose
# stderr is lighttpd's) both log to this terminal.

fastcgi.server = (
  "$URL_PATH" => ( "hookspool" => (
      "bin-path" => "$ROOT/build/hookspool.fcgi",
      "socket" => "$SOCK",
      "max-procs" => 2,
      "check-local" => "disable",
      "bin-copy-environment" => ( "PATH" ),
      "bin-environment" => (
          "HOOKSPOOL_SPOOL" => "$SPOOL",
          "HOOKSPOOL_SECRET" => "$SECRET",
          "HOOKSPOOL_SCHEME" => "caliza",
          "HOOKSPOOL_STATUS_TOKEN" => "$STATUS_TOKEN"
      )
  ) )
)
EOF

"$LIGHTTPD" -tt -f "$CONF" >/dev/null || die "lighttpd rejects $CONF"

SIG=$(HOOKSPOOL_SECRET=$SECRET build/hookspool sign --scheme caliza <"$EXAMPLE") ||
    die "build/hookspool sign failed"
HEADERS=""
# One -H per header line the signer printed ("Name: value").
NL='
'
IFS_OLD=$IFS; IFS=$NL
for line in $SIG; do
    [ -n "$line" ] && HEADERS="$HEADERS -H '$line'"
done
IFS=$IFS_OLD

BASE=http://127.0.0.1:$PORT
cat <<EOF

hookspool demo: lighttpd on $BASE$URL_PATH with 2 FastCGI processes
  configuration  $CONF
  spool          $SPOOL

Post the signed Caliza example (the signature covers the file's exact bytes):

  curl -sS -i -X POST $BASE$URL_PATH -H 'Content-Type: application/json'$HEADERS --data-binary @$EXAMPLE

  -> 200 {"ok":true,"id":"..."}; the event is one line in
     $SPOOL/active/*.jsonl, and moves to $SPOOL/ready/ when the segment is
     sealed (60 s after its first line, or now:
     HOOKSPOOL_SPOOL=$SPOOL build/hookspool rotate).
     The same event posted again (also in a later run: the spool stays) is
     answered 200 {"ok":true,"duplicate":true} and not appended again.

Status (counters, segments, free space; ?format=prometheus for Prometheus),
with the demo's HOOKSPOOL_STATUS_TOKEN (without the header: 401; with no
token configured, anyone would see only ok or degraded):

  curl -sS -H 'Authorization: Bearer $STATUS_TOKEN' $BASE$URL_PATH

Ctrl-C stops lighttpd and its FastCGI processes.

EOF

exec "$LIGHTTPD" -D -f "$CONF"
