using Tap.Interop;
using Tap.TcLoader.Plan;
using Tap.TcLoader.State;

namespace Tap.TcLoader.Hooks;

/// <summary>
/// xdp_clone on each ingress through a pinned XDP link: native (driver) mode first, generic (skb) mode
/// when the driver refuses. Forwarding goes through the DEVMAP tap_tx (slot -> egress); tap mode
/// broadcasts through tap_bcast_SLOT = {egress, recorder} (BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS).
///
/// Native XDP frames redirected into a veth are dropped unless the veth's peer runs an XDP program
/// (xdp-tutorial#167), so in native mode every egress and recorder veth gets xdp_pass on its peer
/// (kind "xdp-peer", possibly in another namespace), unless the peer already has a program (e.g. the
/// recorder's xdp_xsk). In generic mode redirected frames are skbs and the peers need nothing.
///
/// MTU: native XDP on veth takes single-buffer frames only (MTU 3506 here: one 4 KB page less headroom and skb_shared_info; selftests: 3408 accepted,
/// 3409 refused) and our programs are not frags-aware. A larger MTU makes the kernel refuse native
/// mode; the backend then falls back to generic mode and says so in one line. Generic XDP handles
/// 9000-byte frames (they are linear skbs).
/// </summary>
public sealed class XdpHookBackend : IHookBackend
{
    public const string Program = "xdp_clone";
    public const string PeerProgram = "xdp_pass";
    public const string ObjectFile = "xdp_pass.o";
    public const string MapTx = "tap_tx";
    public static string MapBcast(int slot) => $"tap_bcast_{slot}";
    public static readonly string[] XdpMaps = [MapTx, .. Enumerable.Range(0, TapConst.MaxDirections).Select(MapBcast)];
    /// <summary>Largest veth MTU native XDP (no frags) accepts: measured 3506 on 6.18 with 4 KB pages (3507: "Peer MTU is too large").</summary>
    public const int VethNativeMaxMtu = 3506;

    public DataPath Path => DataPath.Xdp;
    public bool Owns(HookRecord hook) => hook.Kind.StartsWith("xdp", StringComparison.Ordinal);

    public static string LinkPin(TapPaths p, int ifindex) => System.IO.Path.Combine(p.LinkDir, $"xdp-{ifindex}");
    public static string PeerPin(TapPaths p, VethPeer peer) => System.IO.Path.Combine(p.LinkDir, $"peer-{peer.Netns ?? "root"}-{peer.Ifindex}");

    public IReadOnlyList<HookRecord> Attach(AttachPlan plan, TapPaths paths, TapState previous, Action<HookRecord> record, TextWriter log)
    {
        using var obj = BpfObject.Open(paths.Object(ObjectFile));
        obj.SetAutoload("xdp_redirect", false);
        obj.SetAutoload("xdp_xsk", false);
        string[] maps = [.. TapMaps.Shared, .. XdpMaps];
        TapMaps.Bind(obj, paths, maps, log);
        obj.Load();
        TapMaps.PinAll(obj, paths, maps);
        FillDevmaps(plan, paths);
        int progFd = obj.ProgramFd(Program);
        int passFd = obj.ProgramFd(PeerProgram);
        Directory.CreateDirectory(paths.ProgDir);
        BpfFs.Pin(progFd, System.IO.Path.Combine(paths.ProgDir, Program));
        Directory.CreateDirectory(paths.LinkDir);

        var hooks = new List<HookRecord>();
        foreach (var dir in plan.Directions.DistinctBy(d => d.IngressIndex))
            hooks.Add(AttachIngress(dir, progFd, paths, record, log));

        if (hooks.Any(h => h.Kind == "xdp-native"))
            hooks.AddRange(AttachPeers(plan, passFd, paths, record, log));
        else
            log.WriteLine("tcloader: generic XDP: redirected frames travel as skbs, so the veth peers need no XDP program");
        return hooks;
    }

    /// <summary>tap_tx[slot] = egress; tap_bcast_SLOT = {egress, recorder} for recorded directions, empty otherwise.</summary>
    private static void FillDevmaps(AttachPlan plan, TapPaths paths)
    {
        using var tx = BpfMap<uint, uint>.OpenPinned(System.IO.Path.Combine(paths.MapDir, MapTx));
        for (int slot = 0; slot < TapConst.MaxDirections; slot++)
        {
            var d = plan.Directions.FirstOrDefault(x => x.Slot == slot);
            if (d != null) tx.Update((uint)slot, (uint)d.EgressIndex);
            else tx.Delete((uint)slot);

            using var bc = BpfMap<uint, uint>.OpenPinned(System.IO.Path.Combine(paths.MapDir, MapBcast(slot)));
            var want = new HashSet<uint>();
            if (d != null && d.Record && d.RecorderIndex > 0)
            {
                want.Add((uint)d.EgressIndex);
                want.Add((uint)d.RecorderIndex);
            }
            foreach (var k in bc.Keys()) if (!want.Contains(k)) bc.Delete(k);
            foreach (var k in want) bc.Update(k, k);
        }
    }

    private static HookRecord AttachIngress(Direction dir, int progFd, TapPaths paths, Action<HookRecord> record, TextWriter log)
    {
        var pin = LinkPin(paths, dir.IngressIndex);
        using (var existing = BpfFs.TryGet(pin))
        {
            // Re-attach: swap the program in the existing link, atomically; the mode stays what it was.
            if (existing != null && Libbpf.bpf_link_update(existing.Fd, progFd, 0) == 0)
            {
                var (_, mode) = XdpNet.Query(dir.IngressIndex);
                var h = Record(dir, pin, mode == XdpNet.XdpAttachedSkb ? "xdp-generic" : "xdp-native");
                record(h);
                return h;
            }
        }
        if (File.Exists(pin)) File.Delete(pin); // a defunct link (its interface went away)

        string kind = "xdp-native";
        int fd = XdpNet.CreateXdpLink(progFd, dir.IngressIndex, XdpNet.XdpFlagsDrvMode);
        if (fd < 0)
        {
            int mtu = Math.Max(NetDev.Mtu(dir.Ingress) ?? 0, XdpNet.PeerOf(dir.Ingress) is { Netns: null } p ? NetDev.Mtu(p.Name) ?? 0 : 0);
            string why = mtu > VethNativeMaxMtu
                ? $"MTU {mtu} is above native XDP's single-buffer limit (~{VethNativeMaxMtu} on veth)"
                : BpfException.Describe(-fd);
            log.WriteLine($"tcloader: {dir.Ingress}: native XDP refused ({why}); using generic XDP (skb mode, slower)");
            kind = "xdp-generic";
            fd = XdpNet.CreateXdpLink(progFd, dir.IngressIndex, XdpNet.XdpFlagsSkbMode);
        }
        using var link = FdHandle.FromLibbpf(fd, $"bpf_link_create(BPF_XDP, {kind})", dir.Ingress);
        BpfFs.Pin(link.Fd, pin);
        var rec = Record(dir, pin, kind);
        record(rec);
        return rec;
    }

    private static HookRecord Record(Direction dir, string pin, string kind) => new()
    {
        Ifname = dir.Ingress, Ifindex = dir.IngressIndex, Kind = kind, LinkPin = pin, Program = Program,
    };

    /// <summary>xdp_pass on the peer of every egress and recorder veth, so native redirects into them arrive.</summary>
    private static List<HookRecord> AttachPeers(AttachPlan plan, int passFd, TapPaths paths, Action<HookRecord> record, TextWriter log)
    {
        var targets = plan.Directions.Select(d => d.Egress)
            .Concat(plan.Directions.Where(d => d.Record && d.Recorder != null).Select(d => d.Recorder!))
            .Distinct().ToList();
        var made = new List<HookRecord>();
        var said = new List<string>();
        foreach (var dev in targets)
        {
            var peer = XdpNet.PeerOf(dev);
            if (peer == null) { said.Add($"{dev}: not a veth, nothing needed"); continue; }
            string where = peer.Netns != null ? $"{peer.Name} (netns {peer.Netns})" : peer.Name;
            var pin = PeerPin(paths, peer);
            using (var existing = BpfFs.TryGet(pin))
            {
                if (existing != null && Libbpf.bpf_link_update(existing.Fd, passFd, 0) == 0)
                {
                    var h = PeerRecord(peer, pin);
                    record(h);
                    made.Add(h);
                    said.Add($"{where}: xdp_pass kept");
                    continue;
                }
            }
            if (File.Exists(pin)) File.Delete(pin);
            var (progId, mode) = XdpNet.InNetns(peer.Netns, () => XdpNet.Query(peer.Ifindex));
            if (progId != 0)
            {
                said.Add($"{where}: already has XDP program {progId} ({XdpNet.ModeName(mode)}), left as is");
                continue;
            }
            int fd = XdpNet.InNetns(peer.Netns, () => XdpNet.CreateXdpLink(passFd, peer.Ifindex, XdpNet.XdpFlagsDrvMode));
            if (fd < 0)
            {
                said.Add($"{where}: xdp_pass refused ({BpfException.Describe(-fd)}): frames redirected to {dev} will be dropped");
                continue;
            }
            using var link = new FdHandle(fd);
            BpfFs.Pin(link.Fd, pin);
            var rec = PeerRecord(peer, pin);
            record(rec);
            made.Add(rec);
            said.Add($"{where}: xdp_pass attached");
        }
        log.WriteLine($"tcloader: veth peers of egress/recorder (native XDP redirects need an XDP program there): {string.Join("; ", said)}");
        return made;
    }

    private static HookRecord PeerRecord(VethPeer peer, string pin) => new()
    {
        Ifname = peer.Name, Ifindex = peer.Ifindex, Kind = "xdp-peer", LinkPin = pin, Program = PeerProgram, Netns = peer.Netns,
    };

    public void Detach(HookRecord hook, TapPaths paths, TextWriter log)
    {
        var pin = hook.LinkPin ?? (hook.Kind == "xdp-peer" ? null : LinkPin(paths, hook.Ifindex));
        if (pin == null) return;
        using (var link = BpfFs.TryGet(pin))
            if (link != null) Libbpf.bpf_link_detach(link.Fd); // fails harmlessly if the device is gone
        if (File.Exists(pin)) File.Delete(pin);
    }

    public HookStatus Inspect(HookRecord hook, TapPaths paths)
    {
        bool peer = hook.Kind == "xdp-peer";
        bool present = peer ? true : NetDev.TryIndex(hook.Ifname, out int idx) && idx == hook.Ifindex;
        using var link = BpfFs.TryGet(hook.LinkPin ?? LinkPin(paths, hook.Ifindex));
        if (link == null) return new HookStatus(present, false, 0, "link pin missing");
        var info = BpfIntrospect.LinkInfo(link.Fd);
        if (info.Ifindex != hook.Ifindex)
            return new HookStatus(peer ? false : present, false, info.ProgId, $"xdp link {info.Id} defunct");
        var (progId, mode) = peer
            ? XdpNet.InNetns(hook.Netns, () => XdpNet.Query(hook.Ifindex))
            : XdpNet.Query(hook.Ifindex);
        string where = peer ? $"veth peer{(hook.Netns != null ? $" in netns {hook.Netns}" : "")}, " : "";
        return new HookStatus(true, progId == info.ProgId, info.ProgId, $"{where}xdp link {info.Id}, {XdpNet.ModeName(mode)} mode");
    }
}
