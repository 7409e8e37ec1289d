<?php
// receiver.php - hookspool's job written the way shared-hosting users
// write it in PHP, for bench/run.sh's comparison (run by php-cgi as
// FastCGI under lighttpd). Verify the Caliza signature (Base64
// HMAC-SHA256 of the raw body), decode the JSON, append one line.
//
// Settings come from the environment lighttpd gives php-cgi
// (bin-environment): HOOKSPOOL_SECRET and BENCH_PHP_SPOOL (a directory).
//
// What it does not do, unlike hookspool: it never flushes to disk (no
// fsync: PHP users do not), keeps no dedup keys, and re-encodes the
// event (json_encode turns 500.00 into 500.0).

$secret = getenv('HOOKSPOOL_SECRET');
$file = getenv('BENCH_PHP_SPOOL') . '/events.jsonl';

header('Content-Type: application/json');
header('Cache-Control: no-store');

$raw = file_get_contents('php://input');
$sig = $_SERVER['HTTP_X_CALIZA_WEBHOOK_SIGNATURE'] ?? '';
$expected = base64_encode(hash_hmac('sha256', $raw, $secret, true));
if (!hash_equals($expected, $sig)) {
    http_response_code(401);
    echo '{"ok":false,"error":"bad_signature"}', "\n";
    exit;
}

$event = json_decode($raw, true);
if ($event === null) {
    http_response_code(400);
    echo '{"ok":false,"error":"bad_json"}', "\n";
    exit;
}

$id = bin2hex(random_bytes(8));
$line = json_encode([
    'id' => $id,
    'received_at' => gmdate('Y-m-d\TH:i:s\Z'),
    'endpoint' => 'caliza',
    'event' => $event,
], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);

if (file_put_contents($file, $line . "\n", FILE_APPEND | LOCK_EX) === false) {
    http_response_code(503);
    header('Retry-After: 30');
    echo '{"ok":false,"error":"spool_unavailable"}', "\n";
    exit;
}
echo '{"ok":true,"id":"', $id, '"}', "\n";
