#!/usr/bin/env php
<?php
/*
 * load-mysql.php - load one hookspool segment (on stdin) into MySQL or
 * MariaDB with PDO (PHP CLI 7.3 or later with pdo_mysql, as shared hosts have).
 *
 *   hookspool consume -s "$HOME/spool" -- php "$HOME/hookspool/load-mysql.php"
 *
 * Connection from the environment:
 *   HOOKSPOOL_PDO_DSN       e.g. mysql:host=localhost;dbname=me_hooks;charset=utf8mb4
 *                           or   mysql:unix_socket=/run/mysqld/mysqld.sock;dbname=me_hooks
 *   HOOKSPOOL_PDO_USER      (optional)
 *   HOOKSPOOL_PDO_PASSWORD  (optional; keep it out of the crontab line:
 *                           see README.md)
 *
 * The table `events` is created on first use (InnoDB, utf8mb4):
 *   uniq          sha256 (hex) of "ENDPOINT KEY" (the line's endpoint, a
 *                 space and its "key" as JSON text), or of its "id" when it
 *                 has no key: the idempotency key. The endpoint is part of
 *                 it because hookspool deduplicates per endpoint.
 *   id, received_at, endpoint      as in the line
 *   key_json, headers_json         JSON text as in the line (key NULL if none)
 *   event_json    the request body exactly as spooled, byte for byte
 *
 * Idempotent: a row whose uniq is already there is left as it is, the
 * whole segment in one transaction. Loading a segment twice (consume
 * requeues it when this script fails or is killed) leaves the table as
 * loading it once did; an event delivered twice keeps its first row.
 * That is done with ON DUPLICATE KEY UPDATE uniq = uniq rather than
 * INSERT IGNORE: IGNORE would also turn real errors into warnings and
 * store a truncated value (a 4-byte character into a utf8mb3 column, an
 * over-long id), and the session runs in strict mode for the same reason.
 *
 * Money is never touched: json_decode never sees the event for storage
 * (PHP would write 500.00 back as 500.0 or 500). Each line is checked
 * to be JSON, then walked member by member to find where each top-level
 * value starts and ends; what is stored are those exact substrings of the
 * line, escapes as sent. PHP's own parser refuses two things RFC 8259
 * allows, a lone surrogate escape ("\ud83d", half an emoji) and an object
 * member name starting with "\u0000": the check neutralises the one and
 * decodes to arrays for the other, so such an event loads like any other.
 *
 * One line never holds back the others. A line that cannot be a row of
 * `events` is set aside in the table `rejects` (created beside it), the
 * rest of the segment loads, each set-aside line is named on stderr (cron
 * mails it) and the exit status is 0, so consume deletes the segment
 * instead of dead-lettering it. Such a line is one that is not an event
 * line (torn, not UTF-8, not JSON, no text "id" or no "event"), one whose
 * row MySQL refuses as data (an over-long id or endpoint), or an event
 * whose row is larger than the server's max_allowed_packet lets one
 * statement send (4 MiB by default on MySQL 5.7; 16 MiB on MariaDB,
 * 64 MiB on MySQL 8): no statement can store it whole, so it is kept in
 * pieces:
 *   line_sha3     hex SHA3-256 of the line's bytes (without its newline);
 *                 with part, the key: loading it again adds nothing
 *   part, parts   this piece's number (from 0) and how many there are:
 *                 the line is line_part of parts 0..parts-1 put together
 *   line_bytes    the line's length
 *   segment       the segment's file name ($HOOKSPOOL_SEGMENT), if known
 *   reason        why it could not be a row
 *   line_part     the piece, byte for byte (LONGBLOB: it may not be UTF-8)
 * Any other failure (the connection, a deadlock, the disk) commits
 * nothing of the segment: the exit status is 1 and consume requeues it
 * (after --max-attempts failures: failed/).
 *
 * Prints nothing on success without rejects; errors go to stderr.
 */

ini_set('display_errors', 'stderr');     /* stdout is consume's (and /dev/null) */
error_reporting(E_ALL);

const TABLE_SQL = <<<'SQL'
CREATE TABLE IF NOT EXISTS events (
    uniq         VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    id           VARCHAR(255) NOT NULL,
    received_at  VARCHAR(64) NULL,
    endpoint     VARCHAR(255) NULL,
    key_json     LONGTEXT NULL,
    headers_json LONGTEXT NULL,
    event_json   LONGTEXT NOT NULL,
    loaded_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
SQL;

const REJECTS_SQL = <<<'SQL'
CREATE TABLE IF NOT EXISTS rejects (
    line_sha3    CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    part         INT UNSIGNED NOT NULL,
    parts        INT UNSIGNED NOT NULL,
    line_bytes   BIGINT UNSIGNED NOT NULL,
    segment      VARCHAR(255) CHARACTER SET ascii NULL,
    reason       VARCHAR(1024) CHARACTER SET ascii NOT NULL,
    line_part    LONGBLOB NOT NULL,
    rejected_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (line_sha3, part)
) ENGINE=InnoDB
SQL;

const REJECT_SQL = <<<'SQL'
INSERT INTO rejects (line_sha3, part, parts, line_bytes, segment, reason, line_part)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON DUPLICATE KEY UPDATE line_sha3 = line_sha3
SQL;

/* Bytes of a statement's packet besides its values (the statement id,
 * flags, types, length prefixes), with room to spare. */
const PACKET_OVERHEAD = 65536;
/* The largest piece of a set-aside line: a quarter of max_allowed_packet,
 * at most 1 MiB, at least 256 bytes. */
const PIECE_MAX = 1048576;
const PIECE_MIN = 256;
/* MySQL errors that refuse one row's data and leave the transaction as it
 * was: null into NOT NULL, out of range, bad value, bad character string,
 * incorrect string value, data too long. Any other error fails the run. */
const ROW_ERRORS = [1048, 1264, 1292, 1300, 1366, 1406];

const INSERT_SQL = <<<'SQL'
INSERT INTO events (uniq, id, received_at, endpoint, key_json, headers_json, event_json)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON DUPLICATE KEY UPDATE uniq = uniq
SQL;

function fail($msg)
{
    fwrite(STDERR, "load-mysql.php: " . $msg . "\n");
    exit(1);
}

/* Index just past the JSON string that starts at $s[$i] ('"'). */
function skip_string($s, $i, $n)
{
    $i++;
    while ($i < $n) {
        $i += strcspn($s, "\"\\", $i);
        if ($i >= $n) {
            break;
        }
        if ($s[$i] === '"') {
            return $i + 1;
        }
        $i += 2;                               /* a backslash and what it escapes */
    }
    throw new UnexpectedValueException("unterminated string");
}

/* Index just past the JSON value that starts at $s[$i] (the line is
 * known to be valid JSON: only the boundaries are looked for). */
function skip_value($s, $i, $n)
{
    if ($i >= $n) {
        throw new UnexpectedValueException("value expected at offset $i");
    }
    $c = $s[$i];
    if ($c === '"') {
        return skip_string($s, $i, $n);
    }
    if ($c === '{' || $c === '[') {
        $depth = 0;
        while ($i < $n) {
            $i += strcspn($s, "\"{}[]", $i);
            if ($i >= $n) {
                break;
            }
            $c = $s[$i];
            if ($c === '"') {
                $i = skip_string($s, $i, $n);
                continue;
            }
            if ($c === '{' || $c === '[') {
                $depth++;
            } elseif (--$depth === 0) {
                return $i + 1;
            }
            $i++;
        }
        throw new UnexpectedValueException("unterminated object or array");
    }
    $j = $i + strcspn($s, ",}] \t\r\n", $i);   /* number, true, false, null */
    if ($j === $i) {
        throw new UnexpectedValueException("value expected at offset $i");
    }
    return $j;
}

function skip_ws($s, $i, $n)
{
    return $i + strspn($s, " \t\r\n", $i);
}

/* [name => raw JSON text of its value] of the top-level object $s. */
function members($s)
{
    $n = strlen($s);
    $i = skip_ws($s, 0, $n);
    if ($i >= $n || $s[$i] !== '{') {
        throw new UnexpectedValueException("not a JSON object");
    }
    $out = [];
    $i = skip_ws($s, $i + 1, $n);
    if ($i < $n && $s[$i] === '}') {
        return $out;
    }
    while (true) {
        if ($i >= $n || $s[$i] !== '"') {
            throw new UnexpectedValueException("member name expected at offset $i");
        }
        $e = skip_string($s, $i, $n);
        $name = json_decode(substr($s, $i, $e - $i));
        $i = skip_ws($s, $e, $n);
        if ($i >= $n || $s[$i] !== ':') {
            throw new UnexpectedValueException("':' expected at offset $i");
        }
        $i = skip_ws($s, $i + 1, $n);
        $e = skip_value($s, $i, $n);
        $out[$name] = substr($s, $i, $e - $i);
        $i = skip_ws($s, $e, $n);
        if ($i < $n && $s[$i] === ',') {
            $i = skip_ws($s, $i + 1, $n);
            continue;
        }
        if ($i < $n && $s[$i] === '}') {
            return $out;
        }
        throw new UnexpectedValueException("',' or '}' expected at offset $i");
    }
}

function text_member($m, $name)
{
    if (!isset($m[$name])) {
        return null;
    }
    $v = json_decode($m[$name]);
    return is_string($v) ? $v : null;
}

/* Throws unless $line is JSON (RFC 8259). PHP's parser refuses a lone
 * surrogate escape: every \uD800-\uDFFF escape is checked as \u0041
 * instead (same length; where the backslash is itself escaped the
 * replaced text is plain characters, valid either way). Decoding to
 * arrays, not objects, accepts member names starting with \u0000. */
function check_json($line)
{
    $t = preg_replace('/(?<=\\\\)u[dD][89a-fA-F][0-9a-fA-F]{2}/', 'u0041', $line);
    if ($t === null) {
        throw new UnexpectedValueException("cannot scan the line: " . preg_last_error_msg());
    }
    if (function_exists('json_validate')) {       /* PHP 8.3: builds nothing */
        $ok = json_validate($t, 100000);
    } else {
        json_decode($t, true, 100000, JSON_BIGINT_AS_STRING);
        $ok = json_last_error() === JSON_ERROR_NONE;
    }
    if (!$ok) {
        throw new UnexpectedValueException(json_last_error_msg());
    }
}

/* The row for one line (without its newline). */
function row($line)
{
    check_json($line);
    $m = members($line);
    $id = text_member($m, 'id');
    if ($id === null) {
        throw new UnexpectedValueException('no text "id"');
    }
    if (!isset($m['event'])) {
        throw new UnexpectedValueException('no "event"');
    }
    $key = isset($m['key']) && $m['key'] !== 'null' ? $m['key'] : null;
    if ($key !== null && $key[0] !== '[') {
        throw new UnexpectedValueException('"key" is not an array');
    }
    $endpoint = text_member($m, 'endpoint');
    return [
        hash('sha256', $key !== null ? ($endpoint !== null ? $endpoint : '') . ' ' . $key : $id),
        $id,
        text_member($m, 'received_at'),
        $endpoint,
        $key,
        isset($m['headers']) ? $m['headers'] : null,
        $m['event'],
    ];
}

/* $s with each byte outside printable ASCII as '?', cut to $max bytes:
 * fits the ascii columns of rejects whatever the line held. */
function printable($s, $max)
{
    return substr(preg_replace('/[^\x20-\x7e]/', '?', $s), 0, $max);
}

/* Puts $line in rejects, in pieces small enough for one statement each;
 * returns its line_sha3. A line already there is left as it is. */
function set_aside($rej, $line, $segment, $why, $max_packet)
{
    $h = hash('sha3-256', $line);
    $n = strlen($line);
    $piece = max(PIECE_MIN, min(PIECE_MAX, intdiv($max_packet, 4)));
    $parts = max(1, intdiv($n + $piece - 1, $piece));
    for ($p = 0; $p < $parts; $p++) {
        $rej->bindValue(1, $h);
        $rej->bindValue(2, $p, PDO::PARAM_INT);
        $rej->bindValue(3, $parts, PDO::PARAM_INT);
        $rej->bindValue(4, $n, PDO::PARAM_INT);
        $rej->bindValue(5, $segment);
        $rej->bindValue(6, $why);
        $rej->bindValue(7, (string)substr($line, $p * $piece, $piece), PDO::PARAM_LOB);
        $rej->execute();
    }
    return $h;
}

function main()
{
    $dsn = getenv('HOOKSPOOL_PDO_DSN');
    if ($dsn === false || $dsn === '') {
        fail("HOOKSPOOL_PDO_DSN is not set");
    }
    $user = getenv('HOOKSPOOL_PDO_USER');
    $pass = getenv('HOOKSPOOL_PDO_PASSWORD');
    try {
        $db = new PDO($dsn, $user === false ? null : $user, $pass === false ? null : $pass, [
            PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
            PDO::ATTR_EMULATE_PREPARES => false,
            PDO::ATTR_TIMEOUT => 30,             /* connecting, in seconds */
        ]);
        $db->exec("SET NAMES utf8mb4 COLLATE utf8mb4_bin");
        $db->exec("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
        $db->exec(TABLE_SQL);               /* DDL commits: not inside the transaction */
        $db->exec(REJECTS_SQL);
        $ins = $db->prepare(INSERT_SQL);
        $rej = $db->prepare(REJECT_SQL);
        $max_packet = (int)$db->query("SELECT @@max_allowed_packet")->fetchColumn();
    } catch (PDOException $e) {
        fail("cannot connect or prepare: " . $e->getMessage());
    }

    $segment = getenv('HOOKSPOOL_SEGMENT');
    $segment = $segment === false || $segment === '' ? null : printable(basename($segment), 255);
    $lineno = 0;
    $set_aside = [];
    try {
        $db->beginTransaction();
        while (($line = fgets(STDIN)) !== false) {
            $lineno++;
            if (substr($line, -1) === "\n") {
                $line = substr($line, 0, -1);
            }
            if ($line === '') {
                continue;
            }
            $why = null;
            try {
                $r = row($line);
                $size = 0;
                foreach ($r as $v) {
                    $size += $v === null ? 0 : strlen($v);
                }
                if ($size > $max_packet - PACKET_OVERHEAD) {
                    $why = sprintf('event %s: its row is %d bytes, more than max_allowed_packet '
                                   . '(%d) lets one statement send', $r[1], $size, $max_packet);
                } else {
                    $ins->execute($r);
                }
            } catch (UnexpectedValueException $e) {
                $why = "not a hookspool event line (SPEC 6): " . $e->getMessage();
            } catch (PDOException $e) {
                if (!in_array(isset($e->errorInfo[1]) ? (int)$e->errorInfo[1] : 0, ROW_ERRORS, true)) {
                    throw $e;
                }
                $why = "refused as a row: " . $e->getMessage();
            }
            if ($why !== null) {
                $why = printable($why, 1024);
                $h = set_aside($rej, $line, $segment, $why, $max_packet);
                $set_aside[] = sprintf("load-mysql.php: line %d of %s set aside in table rejects, "
                                       . "line_sha3 %s: %s", $lineno,
                                       $segment === null ? 'stdin' : $segment, $h, $why);
            }
        }
        if (!feof(STDIN)) {
            throw new RuntimeException("reading stdin failed after line $lineno");
        }
        $db->commit();
    } catch (Throwable $e) {
        if ($db->inTransaction()) {
            try {
                $db->rollBack();
            } catch (Throwable $ignored) {
            }
        }
        fail("nothing of this segment loaded (line $lineno): " . $e->getMessage());
    }
    foreach ($set_aside as $msg) {
        fwrite(STDERR, $msg . "\n");
    }
    exit(0);
}

main();
