using System.Text.Json;
using Tap.Interop;
using Tap.TcLoader.Hooks;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.Xdp;

/// <summary>
/// tcloader attach --mode xdp in a lab of its own (prefix xi): numbered frames from the left namespace
/// arrive at the egress sink once, in order, byte-identical; the recorder link's peer receives every
/// clone; the counters satisfy the accounting identities; detach leaves the kernel as it found it.
/// </summary>
[Trait("Category", "Root")]
public sealed class XdpTapIntegrationTests
{
    private static Dictionary<string, string> Env(string tag) => new()
    {
        ["TAP_PIN_DIR"] = $"/sys/fs/bpf/tcloader-test-{tag}",
        ["TAP_STATE_DIR"] = $"/run/tcloader-test-{tag}",
    };

    private static RunResult Loader(string args, Dictionary<string, string> env) =>
        Run.Cmd(TestEnv.Bin("tcloader"), args, 60_000, env);

    /// <summary>Everything of ours the kernel holds: programs and maps by name, XDP links on the lab's devices, XDP state.</summary>
    private static string Snapshot(Lab lab)
    {
        var devs = new[] { lab.In(0), lab.Out(0), lab.Rec, lab.RecPeer }.Select(d => NetDev.TryIndex(d, out int i) ? i : -1).ToHashSet();
        int progs = BpfIntrospect.Programs().Count(p => p.Name is "xdp_clone" or "xdp_pass" or "xdp_redirect");
        int maps = BpfIntrospect.Maps().Count(m => m.Name.StartsWith("tap_tx") || m.Name.StartsWith("tap_bcast"));
        int links = BpfIntrospect.Links().Count(l => l.Type == BpfIntrospect.LinkTypeXdp);
        var xdp = string.Join(",", new[] { lab.In(0), lab.Out(0), lab.Rec, lab.RecPeer }.Select(d => XdpNet.Query(NetDev.Index(d)).ProgId));
        var right = XdpNet.InNetns(lab.RightNs, () => XdpNet.Query(NetDev.Index(lab.Right(0))).ProgId);
        var left = XdpNet.InNetns(lab.LeftNs, () => XdpNet.Query(NetDev.Index(lab.Left(0))).ProgId);
        return $"progs {progs} maps {maps} xdp-links {links} xdp {xdp} right {right} left {left}";
    }

    private static string WaitSnapshot(Lab lab, string want)
    {
        // Maps and programs are freed after an RCU grace period: allow a moment.
        string now = Snapshot(lab);
        for (int i = 0; i < 50 && now != want; i++) { Thread.Sleep(100); now = Snapshot(lab); }
        return now;
    }

    private static SinkProcess RecorderSink(Lab lab, long count, string size)
    {
        string ready = Path.Combine(Path.GetTempPath(), $"tapsink-{Guid.NewGuid():N}");
        var p = Run.Start(TestEnv.Tapgen, $"sink --iface {lab.RecPeer} --count {count} --size {size} --timeout 60 --idle-ms 3000 --ready-file {ready}");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!File.Exists(ready))
        {
            if (p.HasExited || DateTime.UtcNow > deadline) throw new InvalidOperationException("recorder sink not ready: " + Run.Wait(p, 1000));
            Thread.Sleep(20);
        }
        File.Delete(ready);
        return new SinkProcess(p);
    }

    private static void AssertExact(JsonElement sink, long count, string what)
    {
        Assert.True(sink.GetProperty("received").GetInt64() == count, $"{what}: {sink}");
        foreach (var k in new[] { "duplicates", "reordered", "missing", "corrupt" })
            Assert.True(sink.GetProperty(k).GetInt64() == 0, $"{what}: {k} in {sink}");
        Assert.Equal(count, sink.GetProperty("unique").GetInt64());
    }

    private static void RunTraffic(Lab lab, Dictionary<string, string> env, long count, string size, int pps, string expectKind)
    {
        // Settled: programs released by earlier tests are freed after an RCU grace period.
        string before = Snapshot(lab);
        for (int i = 0; i < 50; i++) { Thread.Sleep(100); var again = Snapshot(lab); if (again == before) break; before = again; }
        try
        {
            var a = Loader($"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Rec} --mode xdp", env);
            Assert.True(a.ExitCode == 0, a.ToString());
            if (expectKind == "xdp-generic")
                Assert.Contains("using generic XDP", a.Stderr);
            else
                Assert.Contains("xdp_pass attached", a.Stderr);

            var st = Loader("status --json", env);
            Assert.True(st.ExitCode == 0, st.ToString());
            var hooks = JsonDocument.Parse(st.Stdout).RootElement.GetProperty("hooks").EnumerateArray().ToList();
            Assert.Contains(hooks, h => h.GetProperty("interface").GetString() == lab.In(0) && h.GetProperty("kind").GetString() == expectKind);
            if (expectKind == "xdp-native")
            {
                Assert.Contains(hooks, h => h.GetProperty("interface").GetString() == lab.Right(0) && h.GetProperty("kind").GetString() == "xdp-peer");
                Assert.Contains(hooks, h => h.GetProperty("interface").GetString() == lab.RecPeer && h.GetProperty("kind").GetString() == "xdp-peer");
            }

            using var egress = lab.StartSink(0, count, size);
            using var rec = RecorderSink(lab, count, size);
            var sent = lab.Send(0, count, size, pps);
            Assert.Equal(count, sent.GetProperty("sent").GetInt64());
            AssertExact(egress.Wait().Json, count, "egress");
            AssertExact(rec.Wait().Json, count, "recorder");

            var stats = Loader("stats --json", env);
            var p = JsonDocument.Parse(stats.Stdout).RootElement.GetProperty("pairs")[0];
            long G(string k) => p.GetProperty(k).GetInt64();
            Assert.Equal(count, G("packets"));
            Assert.Equal(G("packets"), G("forwarded") + G("forward_errors"));
            Assert.Equal(G("packets"), G("cloned") + G("clone_errors"));
            Assert.Equal(0, G("forward_errors"));

            // tcloader mode works unchanged on the XDP path: forward-only stops the clones.
            Assert.Equal(0, Loader("mode forward", env).ExitCode);
            Assert.Contains("mode forward", Loader("status", env).Stdout);
        }
        finally
        {
            var d = Loader("detach", env);
            Assert.True(d.ExitCode == 0, d.ToString());
        }
        Assert.Equal(before, WaitSnapshot(lab, before));
        Assert.False(Directory.Exists(env["TAP_PIN_DIR"]));
    }

    [RootFact]
    public void Native_100k_Mixed_Sizes_Forwarded_And_Cloned_Exactly()
    {
        using var lab = new Lab("xi", pairs: 1, mtu: 1500);
        RunTraffic(lab, Env("xi"), 100_000, "60:1500", 50_000, "xdp-native");
    }

    /// <summary>MTU 9000 is above native XDP's single-buffer limit on veth: attach falls back to generic, says so, and loses nothing.</summary>
    [RootFact]
    public void Jumbo_9000_Falls_Back_To_Generic_And_Loses_Nothing()
    {
        using var lab = new Lab("xj", pairs: 1, mtu: 9000);
        RunTraffic(lab, Env("xj"), 10_000, "9000", 20_000, "xdp-generic");
    }
}
