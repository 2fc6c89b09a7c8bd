using Tap.Interop;
using Tap.TcLoader.Plan;
using Tap.TcLoader.State;

namespace Tap.TcLoader.Hooks;

/// <summary>
/// tc_clone at TC ingress: a TCX link where the kernel has one (6.6+), else a clsact qdisc with a
/// cls_bpf direct-action filter (what 5.x kernels give). A TCX link is pinned so the tap outlives
/// this process; a cls_bpf filter holds its program by itself.
/// </summary>
public sealed class TcHookBackend : IHookBackend
{
    public const string Program = "tc_clone";
    public const string ObjectFile = "tc_clone.o";
    private const int BpfTcxIngress = 46; // enum bpf_attach_type BPF_TCX_INGRESS; libbpf 1.1 predates it
    private const uint BpfTcFReplace = 1;
    // The cls_bpf filter's identity: a handle and priority of our own, so we replace only ours.
    public const uint FilterHandle = 0x7a9;
    public const uint FilterPriority = 1;

    public DataPath Path => DataPath.Tc;
    public bool Owns(HookRecord hook) => hook.Kind is "tcx" or "clsact";

    public static string TcxPin(TapPaths p, int ifindex) => System.IO.Path.Combine(p.LinkDir, $"tcx-{ifindex}");

    public IReadOnlyList<HookRecord> Attach(AttachPlan plan, TapPaths paths, TapState previous, Action<HookRecord> record, TextWriter log)
    {
        using var obj = BpfObject.Open(paths.Object(ObjectFile));
        TapMaps.Bind(obj, paths, TapMaps.Shared, log);
        obj.Load();
        TapMaps.PinAll(obj, paths, TapMaps.Shared);
        int progFd = obj.ProgramFd(Program);
        Directory.CreateDirectory(paths.ProgDir);
        BpfFs.Pin(progFd, System.IO.Path.Combine(paths.ProgDir, Program));

        var hooks = new List<HookRecord>();
        foreach (var dir in plan.Directions.DistinctBy(d => d.IngressIndex))
        {
            var old = previous.Hooks.FirstOrDefault(h => h.Ifindex == dir.IngressIndex && Owns(h));
            HookRecord hook = old?.Kind == "clsact" || plan.TcHook == "clsact"
                ? AttachClsact(dir, progFd, old, record)
                : AttachTcx(dir, progFd, paths, plan.TcHook, old, record, log);
            hooks.Add(hook);
        }
        return hooks;
    }

    private static HookRecord AttachTcx(Direction dir, int progFd, TapPaths paths, string tcHook, HookRecord? old, Action<HookRecord> record, TextWriter log)
    {
        var pin = TcxPin(paths, dir.IngressIndex);
        // A link pinned by an earlier attach (recorded or not, e.g. after kill -9): swap its program in
        // place. bpf_link_update is atomic, so no frame sees an empty hook or two programs.
        using (var existing = BpfFs.TryGet(pin))
        {
            if (existing != null && Libbpf.bpf_link_update(existing.Fd, progFd, 0) == 0)
            {
                var h = TcxRecord(dir, pin);
                record(h);
                return h;
            }
        }
        if (File.Exists(pin)) File.Delete(pin); // defunct link (its interface went away)

        int fd = Libbpf.bpf_link_create(progFd, dir.IngressIndex, BpfTcxIngress, 0);
        if (fd < 0 && tcHook == "auto" && -fd is 22 /*EINVAL*/ or 95 /*EOPNOTSUPP*/ or 524 /*ENOTSUPP*/)
        {
            log.WriteLine($"tcloader: {dir.Ingress}: this kernel has no TCX; using clsact + cls_bpf");
            return AttachClsact(dir, progFd, old, record);
        }
        using var link = FdHandle.FromLibbpf(fd, "bpf_link_create(BPF_TCX_INGRESS)", dir.Ingress);
        Directory.CreateDirectory(paths.LinkDir);
        BpfFs.Pin(link.Fd, pin);
        var rec = TcxRecord(dir, pin);
        record(rec);
        return rec;
    }

    private static HookRecord TcxRecord(Direction dir, string pin) => new()
    {
        Ifname = dir.Ingress, Ifindex = dir.IngressIndex, Kind = "tcx", LinkPin = pin, Program = Program,
    };

    private static HookRecord AttachClsact(Direction dir, int progFd, HookRecord? old, Action<HookRecord> record)
    {
        var hook = BpfTcHook.Create(dir.IngressIndex, BpfTcAttachPoint.Ingress);
        int r = Libbpf.bpf_tc_hook_create(ref hook);
        if (r < 0 && r != -17 /* EEXIST: a clsact is there already, not ours to remove */)
            BpfException.Check(r, "bpf_tc_hook_create(clsact)", dir.Ingress);
        bool created = r == 0 || (old?.Kind == "clsact" && old.QdiscCreated);
        var rec = new HookRecord
        {
            Ifname = dir.Ingress, Ifindex = dir.IngressIndex, Kind = "clsact", QdiscCreated = created,
            Handle = FilterHandle, Priority = FilterPriority, Program = Program,
        };
        record(rec); // before the filter exists: detach then knows the qdisc is ours
        var opts = BpfTcOpts.Create();
        opts.ProgFd = progFd;
        opts.Handle = FilterHandle;
        opts.Priority = FilterPriority;
        opts.Flags = BpfTcFReplace; // replaces our earlier filter atomically, never adds a second
        BpfException.Check(Libbpf.bpf_tc_attach(ref hook, ref opts), "bpf_tc_attach", dir.Ingress);
        return rec;
    }

    public void Detach(HookRecord hook, TapPaths paths, TextWriter log)
    {
        if (hook.Kind == "tcx")
        {
            var pin = hook.LinkPin ?? TcxPin(paths, hook.Ifindex);
            using (var link = BpfFs.TryGet(pin))
                if (link != null) Libbpf.bpf_link_detach(link.Fd); // fails harmlessly if the device is gone
            if (File.Exists(pin)) File.Delete(pin);
            return;
        }
        if (!NetDev.TryIndex(hook.Ifname, out int idx) || idx != hook.Ifindex)
            return; // the device is gone, and its qdisc and filters with it
        var h = BpfTcHook.Create(hook.Ifindex, BpfTcAttachPoint.Ingress);
        var opts = BpfTcOpts.Create();
        opts.Handle = hook.Handle;
        opts.Priority = hook.Priority;
        int r = Libbpf.bpf_tc_detach(ref h, ref opts);
        if (r < 0 && r != -2 /* ENOENT */) BpfException.Check(r, "bpf_tc_detach", hook.Ifname);
        if (hook.QdiscCreated)
        {
            // Only a clsact we created; destroying it needs both attach points named.
            var q = BpfTcHook.Create(hook.Ifindex, BpfTcAttachPoint.Ingress | BpfTcAttachPoint.Egress);
            r = Libbpf.bpf_tc_hook_destroy(ref q);
            if (r < 0 && r != -2 && r != -22) BpfException.Check(r, "bpf_tc_hook_destroy(clsact)", hook.Ifname);
        }
    }

    public HookStatus Inspect(HookRecord hook, TapPaths paths)
    {
        bool present = NetDev.TryIndex(hook.Ifname, out int idx) && idx == hook.Ifindex;
        if (hook.Kind == "tcx")
        {
            using var link = BpfFs.TryGet(hook.LinkPin ?? TcxPin(paths, hook.Ifindex));
            if (link == null) return new HookStatus(present, false, 0, "link pin missing");
            var info = BpfIntrospect.LinkInfo(link.Fd);
            bool attached = present && info.Ifindex == hook.Ifindex;
            return new HookStatus(present, attached, info.ProgId, attached ? $"tcx link {info.Id}" : $"tcx link {info.Id} defunct");
        }
        if (!present) return new HookStatus(false, false, 0, "interface gone");
        var h = BpfTcHook.Create(hook.Ifindex, BpfTcAttachPoint.Ingress);
        var opts = BpfTcOpts.Create();
        opts.Handle = hook.Handle;
        opts.Priority = hook.Priority;
        int r = Libbpf.bpf_tc_query(ref h, ref opts);
        return r == 0
            ? new HookStatus(true, true, opts.ProgId, $"cls_bpf handle 0x{hook.Handle:x} prio {hook.Priority}")
            : new HookStatus(true, false, 0, "cls_bpf filter missing");
    }
}
