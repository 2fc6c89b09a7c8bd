using Tap.Interop;
using Tap.TcLoader.Plan;
using Tap.TcLoader.State;

namespace Tap.TcLoader.Hooks;

/// <summary>The XDP path (xdp_clone). Placeholder until the XDP issue lands.</summary>
public sealed class XdpHookBackend : IHookBackend
{
    public DataPath Path => DataPath.Xdp;
    public bool Owns(HookRecord hook) => hook.Kind.StartsWith("xdp", StringComparison.Ordinal);

    public IReadOnlyList<HookRecord> Attach(AttachPlan plan, TapPaths paths, TapState previous, Action<HookRecord> record, TextWriter log) =>
        throw new TapUsageException("--mode xdp is not available in this build yet", ExitCodes.NoBpf);

    public void Detach(HookRecord hook, TapPaths paths, TextWriter log)
    {
        var pin = hook.LinkPin;
        if (pin == null) return;
        using (var link = BpfFs.TryGet(pin))
            if (link != null) Libbpf.bpf_link_detach(link.Fd);
        if (File.Exists(pin)) File.Delete(pin);
    }

    public HookStatus Inspect(HookRecord hook, TapPaths paths) => new(NetDev.Exists(hook.Ifname), false, 0, "unknown");
}
