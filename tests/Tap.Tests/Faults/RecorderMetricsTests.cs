using System.Globalization;
using System.Text.RegularExpressions;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.Faults;

/// <summary>
/// --metrics serves Prometheus text on loopback with conventional names, and its numbers are the stats json's;
/// a non-loopback address is refused; --metrics-file is rewritten atomically and parses.
/// </summary>
[Trait("Category", "Root")]
public sealed partial class RecorderMetricsTests
{
    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$")]
    private static partial Regex Sample();

    /// <summary>Parses the exposition text strictly: every line a HELP, a TYPE or a sample; each sample's family has a TYPE.</summary>
    public static Dictionary<string, double> Parse(string text)
    {
        var values = new Dictionary<string, double>();
        var types = new Dictionary<string, string>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0) continue;
            if (line.StartsWith("# HELP ")) continue;
            if (line.StartsWith("# TYPE "))
            {
                var t = line.Split(' ');
                Assert.True(t.Length == 4 && t[3] is "counter" or "gauge", "bad TYPE line: " + line);
                types[t[2]] = t[3];
                continue;
            }
            var m = Sample().Match(line);
            Assert.True(m.Success, "not a Prometheus sample line: " + line);
            string name = m.Groups[1].Value;
            Assert.True(types.ContainsKey(name), $"{name} has no TYPE line");
            if (types[name] == "counter") Assert.True(name.EndsWith("_total"), $"counter {name} does not end in _total");
            Assert.Contains("interface=\"", m.Groups[2].Value);
            values[name] = double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
        }
        return values;
    }

    private static readonly string[] Expected =
    [
        "recorder_packets_total", "recorder_bytes_total", "recorder_dropped_total", "recorder_socket_drops_total",
        "recorder_queue_drops_total", "recorder_disk_full_drops_total", "recorder_write_errors_total", "recorder_backlog_bytes",
    ];

    [RootFact]
    public void Metrics_endpoint_and_textfile_match_the_stats_json()
    {
        const int N = 20_000;
        using var rig = new TapRig("fm");
        var lab = rig.Lab;
        string aux = rig.NewDir(), stats = Path.Combine(aux, "stats.json"), mfile = Path.Combine(aux, "recorder.prom");
        int port = Kit.FreePort();
        using var rec = RecorderProcess.StartReady($"--interface {lab.RecPeer} --output {rig.OutDir} --duration 120 --stats-interval 1 --stats-json {stats} --metrics 127.0.0.1:{port} --metrics-file {mfile}");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        string url = $"http://127.0.0.1:{port}/metrics";

        var before = Parse(http.GetStringAsync(url).Result);
        foreach (var n in Expected) Assert.True(before.ContainsKey(n), $"{n} missing");
        Assert.Equal(0, before["recorder_packets_total"]);

        Assert.Equal(N, Kit.L(lab.Send(0, N, "60:1500", 50_000), "sent"));
        Thread.Sleep(1500);
        var resp = http.GetAsync(url).Result;
        Assert.True(resp.IsSuccessStatusCode);
        Assert.StartsWith("text/plain", resp.Content.Headers.ContentType!.ToString());
        Assert.Contains("version=0.0.4", resp.Content.Headers.ContentType!.ToString());
        var during = Parse(resp.Content.ReadAsStringAsync().Result);
        Assert.Equal(N, during["recorder_packets_total"]);
        Assert.Equal(0, during["recorder_dropped_total"]);

        // The textfile is rewritten every interval: its mtime moves and it parses every time.
        Assert.True(File.Exists(mfile), "metrics file not written");
        var t0 = File.GetLastWriteTimeUtc(mfile);
        Thread.Sleep(2200);
        Assert.True(File.GetLastWriteTimeUtc(mfile) > t0, "metrics file not rewritten");
        var fromFile = Parse(File.ReadAllText(mfile));
        Assert.Equal(N, fromFile["recorder_packets_total"]);
        Assert.False(File.Exists(mfile + ".tmp"));

        rec.Stop();
        var js = Kit.StatsJson(stats);
        var final = Parse(File.ReadAllText(mfile));
        foreach (var (metric, key) in new[] { ("recorder_packets_total", "packets"), ("recorder_bytes_total", "bytes"), ("recorder_dropped_total", "dropped"),
                     ("recorder_socket_drops_total", "socket_drops"), ("recorder_queue_drops_total", "queue_drops"),
                     ("recorder_disk_full_drops_total", "disk_full_drops"), ("recorder_write_errors_total", "write_errors") })
        {
            Assert.True(final[metric] == Kit.L(js, key), $"{metric} {final[metric]} vs stats json {key} {Kit.L(js, key)}");
            Assert.True(during[metric] == Kit.L(js, key), $"scraped {metric} {during[metric]} vs stats json {key} {Kit.L(js, key)}");
        }
        Assert.Equal(js.GetProperty("files").GetArrayLength(), final["recorder_files_total"]);
    }

    [RootFact]
    public void Metrics_on_a_non_loopback_address_are_refused()
    {
        foreach (var addr in new[] { "0.0.0.0", "[::]", "198.18.0.1" })
        {
            int port = Kit.FreePort();
            var r = Run.Cmd(TestEnv.Bin("recorder"), $"--interface lo --output /tmp --duration 1 --metrics {addr}:{port}", 30_000);
            Assert.True(r.ExitCode == 2, $"{addr}: {r}");
            var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Length == 1 && lines[0].Contains("loopback"), $"{addr}: {r}");
            Assert.False(Run.Cmd("ss", $"-ltnH sport = :{port}").Stdout.Contains(port.ToString()), $"{addr}: something listens on {port}");
        }
    }
}
