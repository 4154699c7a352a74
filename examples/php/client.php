<?php
// Calls the Roecny API through roecny-auth-proxy with PHP's curl extension: no credentials, no token handling.
// Usage: ROECNY_PROXY_URL=http://127.0.0.1:8080 php client.php [GET path] [POST path] [JSON file]
//   GET path   default /api/v1/balances/current
//   POST path  default /api/v1/echo/example (the demo's echo route; use one of your API's POST routes)
//   JSON file  the POST body (default a small JSON object); libcurl sends a body over 1 MB with
//              Expect: 100-continue, which the proxy answers once it accepts the request.
// Prints each answer on its own line. Exit codes tell whose failure it is:
//   0 success   1 Roecny answered an error   2 the proxy's own error (x-roecny-proxy-error)
//   3 no answer from the proxy (not running, refused, or nothing within 30 s)
//   66 the JSON file cannot be read (nothing is sent)

$base = getenv('ROECNY_PROXY_URL') ?: 'http://127.0.0.1:8080';
$getPath = $argv[1] ?? '/api/v1/balances/current';
$postPath = $argv[2] ?? '/api/v1/echo/example';
$json = json_encode(['request_id' => 'example-1', 'amount' => 12.5, 'currency' => 'EUR']);
if (isset($argv[3])) {
    // A file that cannot be read is an error before anything is sent, never an empty upload
    // (file_get_contents() returns false, which curl would post as an empty body).
    $json = is_file($argv[3]) && is_readable($argv[3]) ? file_get_contents($argv[3]) : false;
    if ($json === false) {
        fwrite(STDERR, "cannot read the JSON file {$argv[3]}\n");
        exit(66);
    }
}

/** Prints the answer on 200..299 and returns 0; else says whose error it is and returns the exit code. */
function call(string $url, ?string $json): int
{
    $proxyError = null;
    $ch = curl_init();
    curl_setopt($ch, CURLOPT_URL, $url);
    curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
    curl_setopt($ch, CURLOPT_TIMEOUT, 30);
    // The sidecar is local, never reached through an HTTP proxy from the environment.
    curl_setopt($ch, CURLOPT_NOPROXY, '*');
    // The proxy marks its own errors (no token yet, Roecny unreachable, ...) with x-roecny-proxy-error.
    curl_setopt($ch, CURLOPT_HEADERFUNCTION, function ($ch, string $line) use (&$proxyError): int {
        if (stripos($line, 'x-roecny-proxy-error:') === 0) {
            $proxyError = trim(substr($line, strlen('x-roecny-proxy-error:')));
        }
        return strlen($line);
    });
    if ($json !== null) {
        curl_setopt($ch, CURLOPT_POST, true);
        curl_setopt($ch, CURLOPT_POSTFIELDS, $json);
        curl_setopt($ch, CURLOPT_HTTPHEADER, ['Content-Type: application/json']);
    }
    $body = curl_exec($ch);
    if ($body === false) {
        // Refused, reset, or no answer in time: the proxy is not there (or not answering).
        fwrite(STDERR, "no answer from the proxy at $url: " . curl_error($ch) . "\n");
        return 3;
    }
    $status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
    curl_close($ch);
    if ($status >= 200 && $status < 300) {
        echo $body, "\n";
        return 0;
    }
    if ($proxyError !== null) {
        fwrite(STDERR, "proxy error $proxyError (HTTP $status)\n");
        return 2;
    }
    fwrite(STDERR, "Roecny answered HTTP $status: $body\n");
    return 1;
}

exit(call($base . $getPath, null) ?: call($base . $postPath, $json));
