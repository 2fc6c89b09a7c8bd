using System.Text.Json;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.TcLoader;

/// <summary>
/// The TC path end to end in namespaces: numbered frames from the left namespace through the tap to the
/// right namespace, and the clones to the recorder link, each checked byte for byte by tapgen's sink.
/// </summary>
[Trait("Category", "Root")]
public sealed class TapPathIntegrationTests
{
    private const int Pps = 120_000; // below the veth lab's ~180 kpps ceiling for mixed sizes (tools/gen)

    private static void AssertExact(JsonElement sink, long n, string where)
    {
        string s = sink.ToString();
        Assert.True(sink.GetProperty("unique").GetInt64() == n, $"{where}: {s}");
        foreach (var k in new[] { "missing", "corrupt", "duplicates", "reordered" })
            Assert.True(sink.GetProperty(k).GetInt64() == 0, $"{where}: {k} in {s}");
    }

    private static JsonElement Pair(Tcloader t, int i = 0) => t.StatsJson().GetProperty("pairs")[i];
    private static long L(JsonElement e, string k) => e.GetProperty(k).GetInt64();

    private static void AssertIdentities(JsonElement p)
    {
        Assert.Equal(L(p, "packets"), L(p, "forwarded") + L(p, "forward_errors") + L(p, "passed"));
        Assert.Equal(L(p, "forwarded") + L(p, "forward_errors"), L(p, "cloned") + L(p, "clone_errors") + L(p, "not_recorded"));
    }

    private static void RunTraffic(Lab lab, Tcloader t, long n, string sizes, int pps, string attachArgs, string snapName)
    {
        var before = KernelSnapshot.Settled(lab.In(0), lab.Out(0), lab.Rec);
        t.MustRun($"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Rec} {attachArgs}");
        using (var egress = lab.StartSink(0, n, sizes))
        using (var rec = lab.StartSink(0, n, sizes, ns: "", iface: lab.RecPeer))
        {
            var sent = lab.Send(0, n, sizes, pps);
            Assert.Equal(n, sent.GetProperty("sent").GetInt64());
            AssertExact(egress.Wait().Json, n, "egress");
            AssertExact(rec.Wait().Json, n, "recorder");
        }
        var p = Pair(t);
        Assert.Equal(n, L(p, "packets"));
        Assert.Equal(L(p, "packets"), L(p, "forwarded") + L(p, "forward_errors"));
        Assert.Equal(L(p, "packets"), L(p, "cloned") + L(p, "clone_errors"));
        Assert.Equal((n, n), (L(p, "forwarded"), L(p, "cloned")));
        t.MustRun("detach");
        KernelSnapshot.AssertBackTo(before, lab.In(0), lab.Out(0), lab.Rec);
        Assert.False(Directory.Exists(t.PinDir), $"{snapName}: pins left behind");
    }

    [RootFact]
    public void TcxForwardsAndClonesEveryFrameByteIdenticalAndDetachLeavesNothing()
    {
        using var lab = new Lab("ti");
        using var t = new Tcloader("ti");
        RunTraffic(lab, t, 100_000, "60:1500", Pps, "--tc-hook tcx", "tcx");
    }

    [RootFact]
    public void ClsactFallbackForwardsAndClonesEveryFrameAndRemovesItsQdisc()
    {
        using var lab = new Lab("tc");
        using var t = new Tcloader("tc");
        RunTraffic(lab, t, 50_000, "60:1500", Pps, "--tc-hook clsact", "clsact");
    }

    [RootFact]
    public void JumboFramesAt9000BytesPassAndAreCloned()
    {
        using var lab = new Lab("tj", mtu: 9000);
        using var t = new Tcloader("tj");
        RunTraffic(lab, t, 10_000, "9000", 40_000, "", "jumbo");
    }

    [RootFact]
    public void ModeSwitchDuringTrafficLosesNothingOnTheForwardPath()
    {
        using var lab = new Lab("tm");
        using var t = new Tcloader("tm");
        t.MustRun($"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Rec}");
        const long n = 100_000;
        using var egress = lab.StartSink(0, n, "60:1500");
        var switches = 0;
        var sender = Task.Run(() => lab.Send(0, n, "60:1500", 80_000));
        while (!sender.IsCompleted && switches < 200)
        {
            t.MustRun(switches % 2 == 0 ? "mode forward" : "mode tap");
            switches++;
            Thread.Sleep(50);
        }
        sender.Wait();
        AssertExact(egress.Wait().Json, n, "egress");
        Assert.True(switches >= 2, "the traffic ended before the mode was switched");
        var p = Pair(t);
        Assert.Equal(n, L(p, "forwarded"));
        Assert.True(L(p, "cloned") > 0 && L(p, "not_recorded") > 0, p.ToString());
        AssertIdentities(p);
    }

    [RootFact]
    public void SecondAttachReplacesTheFirstWithoutLosingAFrame()
    {
        using var lab = new Lab("tr");
        using var t = new Tcloader("tr");
        t.MustRun($"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Rec}");
        const long n = 60_000;
        using var egress = lab.StartSink(0, n, "60:1500");
        var sender = Task.Run(() => lab.Send(0, n, "60:1500", 60_000));
        int reattached = 0;
        while (!sender.IsCompleted && reattached < 20)
        {
            t.MustRun($"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Rec}");
            reattached++;
        }
        sender.Wait();
        AssertExact(egress.Wait().Json, n, "egress");
        Assert.True(reattached >= 1);
        var ifindex = Tap.Interop.NetDev.Index(lab.In(0));
        Assert.Single(Tap.Interop.BpfIntrospect.Links(), l => l.Ifindex == ifindex);
        Assert.Equal(n, L(Pair(t), "packets"));
    }

    [RootFact]
    public void BidirectionalForwardsTheReverseDirectionAndRecordsItOnlyWhenAsked()
    {
        using var lab = new Lab("tb");
        using var t = new Tcloader("tb");
        t.MustRun($"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Rec} --bidirectional");
        const long n = 20_000;
        using (var left = lab.StartSink(0, n, "60:1500", ns: lab.LeftNs, iface: lab.Left(0), reverse: true))
        {
            lab.Send(0, n, "60:1500", Pps, reverse: true);
            AssertExact(left.Wait().Json, n, "reverse egress");
        }
        var rev = Pair(t, 1);
        Assert.Equal((lab.Out(0), lab.In(0)), (rev.GetProperty("ingress").GetString(), rev.GetProperty("egress").GetString()));
        Assert.Equal((n, 0L, n), (L(rev, "forwarded"), L(rev, "cloned"), L(rev, "not_recorded")));

        t.MustRun($"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Rec} --bidirectional --record-reverse");
        using (var rec = lab.StartSink(0, 1000, "60:1500", ns: "", iface: lab.RecPeer, reverse: true))
        {
            lab.Send(0, 1000, "60:1500", Pps, reverse: true);
            AssertExact(rec.Wait().Json, 1000, "reverse clones");
        }
    }

    [RootFact]
    public void StatusAndLiveStatsShowWhatIsAttached()
    {
        using var lab = new Lab("ts");
        using var t = new Tcloader("ts");
        Assert.Equal(5, t.Run("status").ExitCode);
        t.MustRun($"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Rec}");
        var st = t.StatusJson();
        Assert.True(st.GetProperty("healthy").GetBoolean(), st.ToString());
        var hook = st.GetProperty("hooks")[0];
        Assert.Equal(lab.In(0), hook.GetProperty("interface").GetString());
        Assert.True(hook.GetProperty("attached").GetBoolean());
        // The link status reports is the one the kernel has on that interface.
        var link = Assert.Single(Tap.Interop.BpfIntrospect.Links(), l => l.Ifindex == Tap.Interop.NetDev.Index(lab.In(0)));
        Assert.Equal(link.ProgId, hook.GetProperty("prog_id").GetUInt32());

        var watch = Task.Run(() => t.Run("stats --watch 0.3 --count 3"));
        lab.Send(0, 30_000, "64", 50_000);
        var w = watch.Result;
        Assert.Equal(0, w.ExitCode);
        Assert.Contains("pkt/s", w.Stdout);
        Assert.Contains(lab.In(0), w.Stdout);
        var prom = t.MustRun("stats --prometheus").Stdout;
        Assert.Contains($"tap_packets_total{{ingress=\"{lab.In(0)}\",egress=\"{lab.Out(0)}\",direction=\"forward\"}} 30000\n", prom);
        Assert.Contains($"tap_cloned_total{{ingress=\"{lab.In(0)}\",egress=\"{lab.Out(0)}\",direction=\"forward\"}} 30000\n", prom);
        Assert.Contains("tap_mode{mode=\"tap\"} 1\n", prom);
        Assert.Contains("# TYPE tap_clone_errors_total counter", prom);
        var textfile = Path.Combine(Path.GetTempPath(), $"tap-{Guid.NewGuid():N}.prom");
        try
        {
            t.MustRun($"stats --metrics-file {textfile}");
            Assert.Equal(prom, File.ReadAllText(textfile));
        }
        finally { File.Delete(textfile); }
        var jw = t.MustRun("stats --json --watch 0.2 --count 2").Stdout.Trim().Split('\n');
        Assert.Equal(2, jw.Length);
        Assert.True(JsonDocument.Parse(jw[1]).RootElement.GetProperty("pairs")[0].TryGetProperty("bits_per_second", out _));
    }

    [RootFact]
    public void BadInputGetsOneLineAndANonZeroExitAndAttachesNothing()
    {
        using var lab = new Lab("te");
        using var t = new Tcloader("te");
        var before = KernelSnapshot.Settled(lab.In(0), lab.Out(0), lab.Rec);
        var cases = new (string Args, int Code, string Text)[]
        {
            ($"attach --pairs nosuchif0:{lab.Out(0)}", 2, "unknown interface 'nosuchif0'"),
            ($"attach --pairs {lab.In(0)}:{lab.In(0)}", 2, "same interface"),
            ($"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Out(0)}", 2, "also a port"),
            ($"attach --pairs {lab.In(0)}:{lab.Out(0)},{lab.In(0)}:{lab.Rec}", 2, "more than one pair"),
            ($"attach --pairs {lab.In(0)}:{lab.Out(0)},{lab.Out(0)}:{lab.In(0)}", 2, "loop in the pairs"),
            ($"attach --pairs {lab.In(0)}:{lab.Out(0)} --mode bogus", 2, "bogus"),
            ("mode sideways", 2, "unknown mode"),
            ("stats", 5, "nothing attached"),
        };
        foreach (var (args, code, text) in cases)
        {
            var r = t.Run(args);
            Assert.True(r.ExitCode == code, $"{args}: {r}");
            var lines = r.Stderr.Trim().Split('\n');
            Assert.True(lines.Length == 1 && lines[0].Contains(text), $"{args}: {r}");
        }
        KernelSnapshot.AssertBackTo(before, lab.In(0), lab.Out(0), lab.Rec);
        Assert.Equal(5, t.Run("status").ExitCode);
    }

    [RootFact]
    public void NotRootIsRefusedWithOneLine()
    {
        using var lab = new Lab("tn");
        var r = Run.Cmd("setpriv", $"--reuid=65534 --regid=65534 --clear-groups env DOTNET_CLI_HOME=/tmp HOME=/tmp {TestEnv.Bin("tcloader")} attach --pairs {lab.In(0)}:{lab.Out(0)}");
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("must run as root", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }
}
