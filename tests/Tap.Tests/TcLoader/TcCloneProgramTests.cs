using Tap.Interop;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.TcLoader;

/// <summary>
/// tc_clone run by the kernel on crafted frames (BPF_PROG_TEST_RUN), with its maps filled by hand.
/// Two veth pairs give real ifindexes: pti0 is the "ingress", pto0 the egress and ptr0 the recorder.
/// A clone in a test run really is transmitted, so the recorder's peer counts it.
/// </summary>
[Trait("Category", "Root")]
public sealed class TcCloneProgramTests : IDisposable
{
    private const int TcActOk = 0, TcActRedirect = 7;
    private readonly BpfObject? _obj;
    private readonly int _in, _out, _rec;

    public TcCloneProgramTests()
    {
        if (!TestEnv.IsRoot && !TestEnv.RootRequired) return;
        Teardown();
        foreach (var (a, b) in new[] { ("pti0", "pti1"), ("pto0", "pto1"), ("ptr0", "ptr1") })
        {
            var r = Run.Sh($"ip link add {a} type veth peer name {b} && ip link set {a} up && ip link set {b} up");
            Assert.True(r.ExitCode == 0, r.ToString());
        }
        _in = NetDev.Index("pti0"); _out = NetDev.Index("pto0"); _rec = NetDev.Index("ptr0");
        _obj = BpfObject.Open(TestEnv.BpfObject("tc_clone.o"));
        _obj.Load();
    }

    private static void Teardown()
    {
        foreach (var d in new[] { "pti0", "pto0", "ptr0" }) Run.Sh($"ip link del {d} 2>/dev/null");
    }

    public void Dispose()
    {
        _obj?.Dispose();
        Teardown();
    }

    private BpfMap<uint, T> Map<T>(string name) where T : unmanaged => new(_obj!.DupMap(name), name);

    private void Configure(TapMode mode, uint recorder, uint flags = TapConst.FlagRecord)
    {
        using var dirs = Map<TapDir>(TapConst.MapDirs);
        dirs.Update((uint)_in, new TapDir { EgressIfindex = (uint)_out, RecorderIfindex = recorder, Flags = flags, Slot = 3 });
        using var cfg = Map<TapConfig>(TapConst.MapConfig);
        cfg.Update(0, new TapConfig { Mode = (uint)mode });
    }

    private TapStats Slot(int slot)
    {
        using var m = Map<TapStats>(TapConst.MapStats);
        var s = new TapStats();
        foreach (var c in m.LookupPerCpu((uint)slot)) s.Add(c);
        return s;
    }

    private BpfTestRun.Result RunOn(byte[] frame, int ingress) =>
        BpfTestRun.Run(_obj!.ProgramFd("tc_clone"), frame, Frames.SkbCtx(ingress));

    [RootFact]
    public void TapModeClonesAndRedirectsWithoutTouchingTheFrame()
    {
        Configure(TapMode.Tap, (uint)_rec);
        ulong recBefore = NetDev.Counter("ptr1", "rx_packets") ?? 0;
        var frame = Frames.Udp(200);
        var r = RunOn(frame, _in);
        Assert.Equal(TcActRedirect, (int)r.Retval);
        Assert.Equal(frame, r.DataOut);
        var s = Slot(3);
        Assert.Equal((1ul, 200ul, 1ul, 1ul, 0ul, 0ul), (s.Packets, s.Bytes, s.Forwarded, s.Cloned, s.CloneErrors, s.Passed));
        Assert.True(SpinUntil(() => (NetDev.Counter("ptr1", "rx_packets") ?? 0) > recBefore), "the clone did not reach the recorder's peer");
    }

    [RootFact]
    public void ForwardModeRedirectsOnly()
    {
        Configure(TapMode.Forward, (uint)_rec);
        var r = RunOn(Frames.Udp(100), _in);
        Assert.Equal(TcActRedirect, (int)r.Retval);
        var s = Slot(3);
        Assert.Equal((1ul, 1ul, 0ul, 1ul), (s.Packets, s.Forwarded, s.Cloned, s.NotRecorded));
    }

    [RootFact]
    public void PassModeHandsTheFrameToTheStack()
    {
        Configure(TapMode.Pass, (uint)_rec);
        var r = RunOn(Frames.Udp(100), _in);
        Assert.Equal(TcActOk, (int)r.Retval);
        var s = Slot(3);
        Assert.Equal((1ul, 1ul, 0ul, 0ul), (s.Packets, s.Passed, s.Forwarded, s.Cloned));
    }

    [RootFact]
    public void UnpairedIngressPassesUntouchedAndIsCountedApart()
    {
        Configure(TapMode.Tap, (uint)_rec);
        var frame = Frames.Udp(90);
        var r = RunOn(frame, _out); // pto0 has no direction
        Assert.Equal(TcActOk, (int)r.Retval);
        Assert.Equal(frame, r.DataOut);
        Assert.Equal(0ul, Slot(3).Packets);
        var u = Slot(TapConst.SlotUnpaired);
        Assert.Equal((1ul, 90ul, 1ul), (u.Packets, u.Bytes, u.Passed));
    }

    [RootFact]
    public void VlanTaggedAndRuntFramesAreForwardedAndClonedAsTheyAre()
    {
        Configure(TapMode.Tap, (uint)_rec);
        var vlan = Frames.Udp(120, vlan: 100);
        var r1 = RunOn(vlan, _in);
        Assert.Equal(TcActRedirect, (int)r1.Retval);
        Assert.Equal(vlan, r1.DataOut);
        // A runt: Ethernet + IPv4 + UDP headers and no payload, below the 60-byte minimum. (The test run
        // itself refuses an IPv4 frame shorter than its IP header, so 42 bytes is the shortest it takes.)
        var runt = Frames.Udp(128)[..42];
        var r2 = RunOn(runt, _in);
        Assert.Equal(TcActRedirect, (int)r2.Retval);
        Assert.Equal(runt, r2.DataOut);
        var s = Slot(3);
        Assert.Equal((2ul, 162ul, 2ul, 2ul), (s.Packets, s.Bytes, s.Forwarded, s.Cloned));
    }

    [RootFact]
    public void EmptyFrameIsRefusedByTheKernelBeforeTheProgramRuns()
    {
        Configure(TapMode.Tap, (uint)_rec);
        var e = Assert.Throws<BpfException>(() => RunOn([], _in));
        Assert.Equal(22, e.Errno); // EINVAL: an skb needs at least an Ethernet header
        Assert.Equal(0ul, Slot(3).Packets);
    }

    [RootFact]
    public void CloneToAMissingRecorderIsCountedByCauseAndForwardingGoesOn()
    {
        Configure(TapMode.Tap, 0x7ffffff0);
        var r = RunOn(Frames.Udp(100), _in);
        Assert.Equal(TcActRedirect, (int)r.Retval);
        var s = Slot(3);
        Assert.Equal((1ul, 1ul, 0ul, 1ul), (s.Packets, s.Forwarded, s.Cloned, s.CloneErrors));
        unsafe { Assert.Equal(1ul, s.CloneErr[(int)TapCloneErr.EInval]); }
        Assert.Equal(s.Packets, s.Cloned + s.CloneErrors);
    }

    private static bool SpinUntil(Func<bool> cond, int ms = 2000)
    {
        var end = DateTime.UtcNow.AddMilliseconds(ms);
        while (DateTime.UtcNow < end) { if (cond()) return true; Thread.Sleep(10); }
        return cond();
    }
}
