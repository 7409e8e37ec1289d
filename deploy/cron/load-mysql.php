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
 * with json_decode, then walked member by member to find where each
 * top-level value starts and ends; what is stored are those exact
 * substrings of the line. Any line that is not an event line fails the
 * whole segment: nothing of it is committed, the exit status is 1 and
 * consume requeues it (after --max-attempts failures: failed/).
 *
 * Prints nothing on success; errors go to stderr (cron mails them).
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

/* The row for one line (without its newline). */
function row($line)
{
    json_decode($line, false, 100000, JSON_BIGINT_AS_STRING);
    if (json_last_error() !== JSON_ERROR_NONE) {
        throw new UnexpectedValueException(json_last_error_msg());
    }
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
        $ins = $db->prepare(INSERT_SQL);
    } catch (PDOException $e) {
        fail("cannot connect or prepare: " . $e->getMessage());
    }

    $lineno = 0;
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
            try {
                $ins->execute(row($line));
            } catch (UnexpectedValueException $e) {
                throw new UnexpectedValueException(
                    "line $lineno: not a hookspool event line (SPEC 6): " . $e->getMessage());
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
        fail("nothing of this segment loaded: " . $e->getMessage());
    }
    exit(0);
}

main();
