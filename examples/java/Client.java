// Calls the Roecny API through roecny-auth-proxy: no credentials, no token handling. JDK 11+ only.
// Usage: ROECNY_PROXY_URL=http://127.0.0.1:8080 java Client.java [path]   (default /api/v1/balances/current)
// Prints the answer on 200..299; exit 2 for the proxy's own errors, 1 for Roecny's.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;

public class Client {
    public static void main(String[] args) throws Exception {
        String base = System.getenv().getOrDefault("ROECNY_PROXY_URL", "http://127.0.0.1:8080");
        String path = args.length > 0 ? args[0] : "/api/v1/balances/current";
        // HTTP/1.1: plain HTTP to a local sidecar, no h2c upgrade attempt on every connection.
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30)).build();
        HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
        int status = response.statusCode();
        if (status >= 200 && status < 300) {
            System.out.println(response.body());
            return;
        }
        // The proxy marks its own errors (no token yet, Roecny unreachable, ...) with x-roecny-proxy-error.
        Optional<String> proxyError = response.headers().firstValue("x-roecny-proxy-error");
        if (proxyError.isPresent()) {
            System.err.println("proxy error " + proxyError.get() + " (HTTP " + status + ")");
            System.exit(2);
        }
        System.err.println("Roecny answered HTTP " + status + ": " + response.body());
        System.exit(1);
    }
}
