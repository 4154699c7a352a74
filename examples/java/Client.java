// Calls the Roecny API through roecny-auth-proxy: no credentials, no token handling. JDK 11+ only.
// Usage: ROECNY_PROXY_URL=http://127.0.0.1:8080 java Client.java [GET path] [POST path] [JSON file]
//   GET path   default /api/v1/balances/current
//   POST path  default /api/v1/echo/example (the demo's echo route; use one of your API's POST routes)
//   JSON file  the POST body (default a small JSON object)
// Prints each answer on its own line. Exit codes tell whose failure it is:
//   0 success   1 Roecny answered an error   2 the proxy's own error (x-roecny-proxy-error)
//   3 no answer from the proxy (not running, refused, or nothing within 30 s)
//   66 the JSON file cannot be read (nothing is sent)
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

public class Client {
    // HTTP/1.1: plain HTTP to a local sidecar, no h2c upgrade attempt on every connection.
    static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    public static void main(String[] args) throws Exception {
        String base = System.getenv().getOrDefault("ROECNY_PROXY_URL", "http://127.0.0.1:8080");
        String getPath = args.length > 0 ? args[0] : "/api/v1/balances/current";
        String postPath = args.length > 1 ? args[1] : "/api/v1/echo/example";
        HttpRequest.BodyPublisher json = HttpRequest.BodyPublishers.ofString("{\"request_id\":\"example-1\",\"amount\":12.5,\"currency\":\"EUR\"}");
        if (args.length > 2) {
            // A file that cannot be read is an error before anything is sent, never an empty upload.
            Path file = Path.of(args[2]);
            if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
                System.err.println("cannot read the JSON file " + args[2]);
                System.exit(66);
            }
            json = HttpRequest.BodyPublishers.ofFile(file);
        }
        int code = call(HttpRequest.newBuilder(URI.create(base + getPath)).timeout(Duration.ofSeconds(30)).build());
        if (code == 0) {
            code = call(HttpRequest.newBuilder(URI.create(base + postPath)).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json").POST(json).build());
        }
        System.exit(code);
    }

    /** Prints the answer on 200..299 and returns 0; else says whose error it is and returns the exit code. */
    static int call(HttpRequest request) throws InterruptedException {
        HttpResponse<String> response;
        try {
            response = CLIENT.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException error) {
            // Refused, reset, or no answer in time (HttpTimeoutException): the proxy is not there (or not answering).
            System.err.println("no answer from the proxy at " + request.uri() + ": " + error);
            return 3;
        }
        int status = response.statusCode();
        if (status >= 200 && status < 300) {
            System.out.println(response.body());
            return 0;
        }
        // The proxy marks its own errors (no token yet, Roecny unreachable, ...) with x-roecny-proxy-error.
        Optional<String> proxyError = response.headers().firstValue("x-roecny-proxy-error");
        if (proxyError.isPresent()) {
            System.err.println("proxy error " + proxyError.get() + " (HTTP " + status + ")");
            return 2;
        }
        System.err.println("Roecny answered HTTP " + status + ": " + response.body());
        return 1;
    }
}
