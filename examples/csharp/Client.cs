// Calls the Roecny API through roecny-auth-proxy with HttpWebRequest: no credentials, no token handling.
// Usage: ROECNY_PROXY_URL=http://127.0.0.1:8080 ... [GET path] [POST path] [JSON file], run with
//   Mono:     mcs -out:Client.exe Client.cs && mono Client.exe
//   .NET SDK: dotnet run --project examples/csharp --
//   GET path   default /api/v1/balances/current
//   POST path  default /api/v1/echo/example (the demo's echo route; use one of your API's POST routes)
//   JSON file  the POST body (default a small JSON object)
// Prints each answer on its own line. Exit codes tell whose failure it is:
//   0 success   1 Roecny answered an error   2 the proxy's own error (x-roecny-proxy-error)
//   3 no answer from the proxy (not running, refused, or nothing within 30 s)
//   66 the JSON file cannot be read (nothing is sent)
using System;
using System.IO;
using System.Net;
using System.Text;

class Client
{
    static int Main(string[] args)
    {
        string baseUrl = Environment.GetEnvironmentVariable("ROECNY_PROXY_URL") ?? "http://127.0.0.1:8080";
        string getPath = args.Length > 0 ? args[0] : "/api/v1/balances/current";
        string postPath = args.Length > 1 ? args[1] : "/api/v1/echo/example";
        byte[] json = Encoding.UTF8.GetBytes("{\"request_id\":\"example-1\",\"amount\":12.5,\"currency\":\"EUR\"}");
        if (args.Length > 2)
        {
            // A file that cannot be read is an error before anything is sent, never an empty upload.
            try
            {
                json = File.ReadAllBytes(args[2]);
            }
            catch (Exception error) when (error is IOException || error is UnauthorizedAccessException)
            {
                Console.Error.WriteLine("cannot read the JSON file " + args[2] + ": " + error.Message);
                return 66;
            }
        }
        int code = Call(baseUrl + getPath, null);
        return code != 0 ? code : Call(baseUrl + postPath, json);
    }

    // Prints the answer on 200..299 and returns 0; else says whose error it is and returns the exit code.
    static int Call(string url, byte[] json)
    {
        HttpWebRequest request = (HttpWebRequest)WebRequest.Create(url);
        // The sidecar is local, never reached through an HTTP proxy from the environment.
        request.Proxy = null;
        request.Timeout = 30000;
        HttpWebResponse response;
        try
        {
            if (json != null)
            {
                // HttpWebRequest sends a POST with Expect: 100-continue; the proxy answers it once it accepts the request.
                request.Method = "POST";
                request.ContentType = "application/json";
                request.ContentLength = json.Length;
                using (Stream body = request.GetRequestStream())
                {
                    body.Write(json, 0, json.Length);
                }
            }
            response = (HttpWebResponse)request.GetResponse();
        }
        catch (WebException error)
        {
            // A status outside 200..299 comes as an exception that carries the response.
            response = error.Response as HttpWebResponse;
            if (response == null)
            {
                // Refused, reset, or no answer in time: the proxy is not there (or not answering).
                Console.Error.WriteLine("no answer from the proxy at " + url + ": " + error.Message);
                return 3;
            }
        }
        using (response)
        {
            int status = (int)response.StatusCode;
            string answer = new StreamReader(response.GetResponseStream(), Encoding.UTF8).ReadToEnd();
            if (status >= 200 && status < 300)
            {
                Console.WriteLine(answer);
                return 0;
            }
            // The proxy marks its own errors (no token yet, Roecny unreachable, ...) with x-roecny-proxy-error.
            string proxyError = response.Headers["x-roecny-proxy-error"];
            if (proxyError != null)
            {
                Console.Error.WriteLine("proxy error " + proxyError + " (HTTP " + status + ")");
                return 2;
            }
            Console.Error.WriteLine("Roecny answered HTTP " + status + ": " + answer);
            return 1;
        }
    }
}
