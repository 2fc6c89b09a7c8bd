using System.Runtime.InteropServices;
using Tap.Interop;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.Xdp;

/// <summary>
/// BPF_PROG_TEST_RUN on xdp_pass, xdp_redirect and xdp_clone: verdicts per mode and the counters they
/// keep. The object's maps are private to each test (nothing pinned). XDP test_run resolves
/// xdp_md.ingress_ifindex to a real device, so each test makes its own veth pair (xp*).
/// </summary>
[Trait("Category", "Root")]
public sealed class XdpProgramTests : IDisposable
{
    private const uint XdpAborted = 0, XdpDrop = 1, XdpPass = 2, XdpRedirect = 4;
    private readonly string _a = "xpa0", _b = "xpa1", _c = "xpb0", _d = "xpb1";
    private readonly int _ia, _ib, _ic;
    private readonly BpfObject? _obj;

    public XdpProgramTests()
    {
        if (!TestEnv.IsRoot) return;
        Cleanup();
        Must(Run.Sh($"ip link add {_a} type veth peer name {_b} && ip link add {_c} type veth peer name {_d} && " +
                    $"ip link set {_a} up && ip link set {_b} up && ip link set {_c} up && ip link set {_d} up"));
        _ia = NetDev.Index(_a); _ib = NetDev.Index(_b); _ic = NetDev.Index(_c);
        _obj = BpfObject.Open(TestEnv.BpfObject("xdp_pass.o"));
        _obj.Load();
    }

    private static void Must(RunResult r) { if (r.ExitCode != 0) throw new InvalidOperationException(r.ToString()); }
    private void Cleanup() { foreach (var d in new[] { _a, _c }) Run.Sh($"ip -d link show dev {d} 2>/dev/null | grep -q veth && ip link del dev {d} || true"); }

    public void Dispose()
    {
        _obj?.Dispose();
        if (TestEnv.IsRoot) Cleanup();
    }

    private BpfMap<uint, T> Map<T>(string name) where T : unmanaged => new(_obj!.DupMap(name), name);

    /// <summary>Ingress a, egress b, recorder c, slot 0.</summary>
    private void Configure(TapMode mode, bool record = true, bool fillTx = true, bool fillBcast = true)
    {
        using var dirs = Map<TapDir>(TapConst.MapDirs);
        dirs.Update((uint)_ia, new TapDir { EgressIfindex = (uint)_ib, RecorderIfindex = (uint)_ic, Flags = record ? TapConst.FlagRecord : 0, Slot = 0 });
        using var cfg = Map<TapConfig>(TapConst.MapConfig);
        cfg.Update(0, new TapConfig { Mode = (uint)mode });
        using var tx = Map<uint>("tap_tx");
        if (fillTx) tx.Update(0, (uint)_ib);
        using var bc = Map<uint>("tap_bcast_0");
        if (fillBcast) { bc.Update((uint)_ib, (uint)_ib); bc.Update((uint)_ic, (uint)_ic); }
    }

    private TapStats Stats(int slot)
    {
        using var m = new BpfMap<uint, TapStats>(_obj!.DupMap(TapConst.MapStats), TapConst.MapStats);
        var t = new TapStats();
        foreach (var c in m.LookupPerCpu((uint)slot)) t.Add(c);
        return t;
    }

    private static byte[] Frame(int len)
    {
        var f = new byte[len];
        for (int i = 0; i < len; i++) f[i] = (byte)i;
        f[12] = 0x08; f[13] = 0x00;
        return f;
    }

    /// <summary>struct xdp_md {data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex}.</summary>
    private static byte[] Ctx(int ifindex, int len)
    {
        var c = new uint[6];
        c[1] = (uint)len; c[3] = (uint)ifindex;
        return MemoryMarshal.AsBytes(c.AsSpan()).ToArray();
    }

    private uint RunProg(string prog, int ifindex, int len = 128, int repeat = 1)
    {
        var r = BpfTestRun.Run(_obj!.ProgramFd(prog), Frame(len), Ctx(ifindex, len), repeat);
        return r.Retval;
    }

    [RootFact]
    public void XdpPass_PassesEverything() => Assert.Equal(XdpPass, RunProg("xdp_pass", _ia));

    [RootFact]
    public void Clone_PassMode_Passes()
    {
        Configure(TapMode.Pass);
        Assert.Equal(XdpPass, RunProg("xdp_clone", _ia, 200, 10));
        var s = Stats(0);
        Assert.Equal(10ul, s.Packets); Assert.Equal(2000ul, s.Bytes); Assert.Equal(10ul, s.Passed);
        Assert.Equal(0ul, s.Forwarded + s.Cloned);
    }

    [RootFact]
    public void Clone_ForwardMode_RedirectsWithoutClone()
    {
        Configure(TapMode.Forward);
        Assert.Equal(XdpRedirect, RunProg("xdp_clone", _ia, 64, 5));
        var s = Stats(0);
        Assert.Equal(5ul, s.Packets); Assert.Equal(5ul, s.Forwarded); Assert.Equal(5ul, s.NotRecorded);
        Assert.Equal(0ul, s.Cloned); Assert.Equal(0ul, s.ForwardErrors);
        Assert.Equal(s.Packets, s.Forwarded + s.ForwardErrors + s.Passed);
    }

    [RootFact]
    public void Clone_TapMode_BroadcastsAndCountsClone()
    {
        Configure(TapMode.Tap);
        Assert.Equal(XdpRedirect, RunProg("xdp_clone", _ia, 1500, 7));
        var s = Stats(0);
        Assert.Equal(7ul, s.Packets); Assert.Equal(7ul * 1500, s.Bytes);
        Assert.Equal(7ul, s.Forwarded); Assert.Equal(7ul, s.Cloned);
        Assert.Equal(s.Packets, s.Cloned + s.CloneErrors);
        Assert.Equal(s.Forwarded + s.ForwardErrors, s.Cloned + s.CloneErrors + s.NotRecorded);
    }

    [RootFact]
    public void Clone_TapMode_UnrecordedDirectionOnlyForwards()
    {
        Configure(TapMode.Tap, record: false);
        Assert.Equal(XdpRedirect, RunProg("xdp_clone", _ia));
        var s = Stats(0);
        Assert.Equal(1ul, s.Forwarded); Assert.Equal(1ul, s.NotRecorded); Assert.Equal(0ul, s.Cloned);
    }

    [RootFact]
    public void Clone_MissingEgress_DropsAndCountsError()
    {
        Configure(TapMode.Forward, fillTx: false);
        Assert.Equal(XdpDrop, RunProg("xdp_clone", _ia, 64, 3));
        var s = Stats(0);
        Assert.Equal(3ul, s.ForwardErrors); Assert.Equal(0ul, s.Forwarded);
    }

    [RootFact]
    public void Redirect_ForwardsAndPassesInPassMode()
    {
        Configure(TapMode.Forward);
        Assert.Equal(XdpRedirect, RunProg("xdp_redirect", _ia, 64, 4));
        Assert.Equal(4ul, Stats(0).Forwarded);
        Configure(TapMode.Pass);
        Assert.Equal(XdpPass, RunProg("xdp_redirect", _ia));
        Assert.Equal(1ul, Stats(0).Passed);
    }

    [RootFact]
    public void UnpairedIngress_PassesAndCountsUnpairedSlot()
    {
        Configure(TapMode.Tap);
        foreach (var prog in new[] { "xdp_clone", "xdp_redirect" })
            Assert.Equal(XdpPass, RunProg(prog, _ib, 100));
        var u = Stats(TapConst.SlotUnpaired);
        Assert.Equal(2ul, u.Packets); Assert.Equal(200ul, u.Bytes); Assert.Equal(2ul, u.Passed);
        Assert.Equal(0ul, Stats(0).Packets);
        Assert.NotEqual(XdpAborted, RunProg("xdp_clone", _ib));
    }
}
