using System.Diagnostics;
using Tap.Interop;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.TcLoader;

/// <summary>What happens to the loader's own state when things go wrong around it.</summary>
[Trait("Category", "Root")]
public sealed class TcloaderFaultTests
{
    private static int LinksOn(string iface) =>
        BpfIntrospect.Links().Count(l => l.Ifindex == NetDev.Index(iface));

    [RootFact]
    public void KillNineDuringAttachLeavesAStateThatAttachAndDetachRepair()
    {
        using var lab = new Lab("tk");
        using var t = new Tcloader("tk");
        string args = $"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Rec}";
        var sw = Stopwatch.StartNew();
        t.MustRun(args);
        int full = (int)sw.ElapsedMilliseconds;
        t.MustRun("detach");

        // Kill at points spread over the whole run of attach: before, inside and after the kernel calls.
        for (int i = 0; i < 8; i++)
        {
            var p = Run.Start(TestEnv.Bin("tcloader"), args, t.Env);
            Thread.Sleep(full * i / 7);
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();

            // Whatever was left: a re-run of attach succeeds and leaves exactly one program on the hook.
            t.MustRun(args);
            Assert.Equal(1, LinksOn(lab.In(0)));
            Assert.Equal(0, t.Run("status").ExitCode);
            t.MustRun("detach");
            Assert.Equal(0, LinksOn(lab.In(0)));
            Assert.False(Directory.Exists(t.PinDir));
        }

        // And detach alone after a kill also cleans up.
        var q = Run.Start(TestEnv.Bin("tcloader"), args, t.Env);
        Thread.Sleep(full * 3 / 4);
        try { q.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        q.WaitForExit();
        t.MustRun("detach");
        Assert.Equal(0, LinksOn(lab.In(0)));
        Assert.False(Directory.Exists(t.PinDir));
    }

    [RootFact]
    public void PinsFromAnIncompatibleBuildAreReplacedWithAMessage()
    {
        using var lab = new Lab("tp");
        using var t = new Tcloader("tp");
        Directory.CreateDirectory(Path.Combine(t.PinDir, "maps"));
        // A tap_stats from an "older build": a smaller value and fewer slots.
        var r = Run.Cmd("bpftool", $"map create {t.PinDir}/maps/tap_stats type percpu_array key 4 value 64 entries 9 name tap_stats");
        Assert.True(r.ExitCode == 0, r.ToString());
        var a = t.Run($"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Rec}");
        Assert.True(a.ExitCode == 0, a.ToString());
        Assert.Contains("replacing pinned map tap_stats from an incompatible build", a.Stderr);
        using var fd = BpfFs.TryGet(Path.Combine(t.PinDir, "maps", "tap_stats"));
        Assert.NotNull(fd);
        Assert.Equal((uint)System.Runtime.InteropServices.Marshal.SizeOf<TapStats>(), BpfIntrospect.MapInfo(fd!.Fd).ValueSize);
        lab.Send(0, 1000, "64", 50_000);
        Assert.Equal(1000, t.StatsJson().GetProperty("pairs")[0].GetProperty("packets").GetInt64());
    }

    [RootFact]
    public void DeletedInterfaceIsReportedAndDetachStillCleansUp()
    {
        using var lab = new Lab("tg");
        using var t = new Tcloader("tg");
        t.MustRun($"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Rec}");
        Assert.True(Run.Cmd("ip", $"link del {lab.In(0)}").ExitCode == 0);
        var s = t.Run("status --json");
        Assert.Equal(1, s.ExitCode);
        var hook = System.Text.Json.JsonDocument.Parse(s.Stdout).RootElement.GetProperty("hooks")[0];
        Assert.False(hook.GetProperty("interface_present").GetBoolean());
        Assert.False(hook.GetProperty("attached").GetBoolean());
        Assert.Contains("INTERFACE GONE", t.Run("status").Stdout);
        Assert.Equal(0, t.Run("stats --json").ExitCode); // counters stay readable
        t.MustRun("detach");
        Assert.False(Directory.Exists(t.PinDir));
        Assert.DoesNotContain(BpfIntrospect.Programs(), p => p.Name == "tc_clone");
    }
}
