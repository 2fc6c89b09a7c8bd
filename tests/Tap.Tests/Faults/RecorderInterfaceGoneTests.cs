using System.Text.Json;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.Faults;

/// <summary>The recorder link is deleted under a running tap and recorder.</summary>
[Trait("Category", "Root")]
public sealed class RecorderInterfaceGoneTests
{
    [RootFact]
    public void DeletedRecorderLinkEndsTheRecorderCleanlyAndForwardingGoesOn()
    {
        using var lab = new Lab("fr");
        using var t = new Tcloader("fr");
        t.MustRun($"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Rec}");
        var outDir = Directory.CreateTempSubdirectory("fr-out-").FullName;
        try
        {
            using var rec = new RecorderProcess($"--interface {lab.RecPeer} --output {outDir} --format pcap --duration 60");
            rec.WaitReady();
            lab.Send(0, 5_000, "60:1500", 50_000);
            Thread.Sleep(300);

            Assert.Equal(0, Run.Cmd("ip", $"link del {lab.Rec}").ExitCode); // takes its peer with it
            // The recorder notices within seconds, closes its files and exits non-zero with one line.
            var sw = System.Diagnostics.Stopwatch.StartNew();
            int code = rec.WaitExit(15_000);
            Assert.True(code == 1, rec.Stderr);
            Assert.Contains($"interface {lab.RecPeer} is gone", rec.Stderr);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10));
            var files = Directory.GetFiles(outDir, "*.pcap");
            Assert.Empty(Directory.GetFiles(outDir, "*.part"));
            Assert.Equal(5_000, files.Sum(f => long.Parse(Run.Sh($"tcpdump -r {f} 2>/dev/null | wc -l").Stdout.Trim())));

            // Forwarding is untouched; the clones now fail and are counted by cause.
            using (var egress = lab.StartSink(0, 5_000, "60:1500", stream: 1))
            {
                lab.Send(0, 5_000, "60:1500", 50_000, stream: 1);
                var (_, json) = egress.Wait();
                Assert.True(json.GetProperty("unique").GetInt64() == 5_000 && json.GetProperty("missing").GetInt64() == 0, json.ToString());
            }
            var p = t.StatsJson().GetProperty("pairs")[0];
            Assert.Equal(10_000, p.GetProperty("forwarded").GetInt64());
            Assert.Equal(5_000, p.GetProperty("clone_errors").GetInt64());
            Assert.Equal(5_000, p.GetProperty("clone_errors_by_cause").GetProperty("einval").GetInt64());

            var st = t.Run("status --json");
            Assert.Equal(1, st.ExitCode);
            Assert.False(JsonDocument.Parse(st.Stdout).RootElement.GetProperty("recorder_present").GetBoolean());
            Assert.Contains("INTERFACE GONE", t.Run("status").Stdout);
        }
        finally { Directory.Delete(outDir, true); }
    }
}
