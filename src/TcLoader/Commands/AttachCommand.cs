using Tap.Interop;
using Tap.TcLoader.Hooks;
using Tap.TcLoader.Plan;
using Tap.TcLoader.State;

namespace Tap.TcLoader.Commands;

/// <summary>
/// attach: configure the shared maps first, then put the program on each ingress, then remove what
/// the previous attach had and this one does not. A second attach therefore replaces the first hook
/// by hook, atomically on each interface.
/// </summary>
public static class AttachCommand
{
    public static int Run(AttachPlan plan, TapPaths paths, TextWriter stdout, TextWriter stderr)
    {
        Privileges.RequireRoot("attach");
        BpfFs.EnsureMounted(BpfFs.DefaultRoot);
        CheckMtus(plan, stderr);

        var previous = TapState.Load(paths) ?? new TapState();
        var hooks = new List<HookRecord>(previous.Hooks);
        var state = previous with
        {
            Path = plan.Path == DataPath.Xdp ? "xdp" : "tc",
            Recorder = plan.Recorder,
            Directions = [.. plan.Directions.Concat(previous.Directions.Where(o => plan.Directions.All(n => n.IngressIndex != o.IngressIndex)))],
            Hooks = hooks,
            AttachedAt = DateTime.UtcNow,
            Complete = false,
        };
        state.Save(paths); // intent first: a kill -9 from here on leaves a state that detach can undo

        var backend = Backends.For(plan.Path);
        IReadOnlyList<HookRecord> made;
        try
        {
            CreateSharedMaps(paths, stderr);
            Configure(plan, previous, paths);
            made = backend.Attach(plan, paths, previous, h =>
            {
                hooks.RemoveAll(o => o.Ifindex == h.Ifindex && backend.Owns(o));
                hooks.Add(h);
                state.Save(paths);
            }, stderr);
        }
        catch when (previous.Hooks.Count == 0)
        {
            // A first attach that failed half-way leaves nothing behind.
            DetachCommand.RemoveAll(TapState.Load(paths) ?? state, paths, TextWriter.Null);
            throw;
        }

        // What the earlier attach had and this one does not: other interfaces, or the other data path.
        // A hook of the same kind on the same interface was replaced in place above.
        foreach (var stale in previous.Hooks.Where(o => !made.Any(m => m.Kind == o.Kind && m.Ifindex == o.Ifindex)))
        {
            Backends.Owner(stale).Detach(stale, paths, stderr);
            hooks.Remove(stale);
            state.Save(paths);
        }
        RemoveStaleDirections(plan, paths);
        (state with { Directions = [.. plan.Directions], Hooks = [.. made], Complete = true }).Save(paths);

        foreach (var d in plan.Directions)
            stdout.WriteLine($"{d.Ingress} -> {d.Egress}" + (d.Record ? $", cloned to {d.Recorder}" : "") + (d.Reverse ? " (reverse)" : ""));
        stdout.WriteLine($"attached {plan.Path.ToString().ToLowerInvariant()} path on {string.Join(", ", made.Select(h => $"{h.Ifname} ({h.Kind})"))}; mode {plan.StartMode.ToString().ToLowerInvariant()}");
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Creates and pins the shared maps if this is the first attach, so they can be filled before any hook
    /// goes live. Only the maps: the backend loads (and the verifier checks) the program once, afterwards.
    /// </summary>
    private static void CreateSharedMaps(TapPaths paths, TextWriter log)
    {
        using var obj = BpfObject.Open(paths.Object(TcHookBackend.ObjectFile));
        obj.SetAutoload(TcHookBackend.Program, false);
        TapMaps.Bind(obj, paths, TapMaps.Shared, log);
        obj.Load();
        TapMaps.PinAll(obj, paths, TapMaps.Shared);
    }

    private static void Configure(AttachPlan plan, TapState previous, TapPaths paths)
    {
        using var dirs = TapMaps.Dirs(paths);
        using var stats = TapMaps.Stats(paths);
        using var config = TapMaps.Config(paths);
        foreach (var d in plan.Directions)
        {
            // A slot that counted another direction before starts again from zero.
            var before = previous.Directions.FirstOrDefault(o => o.Slot == d.Slot);
            if (before == null || before.IngressIndex != d.IngressIndex || before.EgressIndex != d.EgressIndex)
                stats.UpdatePerCpu((uint)d.Slot, default);
            dirs.Update((uint)d.IngressIndex, d.ToAbi());
        }
        config.TryLookup(0, out var cfg);
        config.Update(0, new TapConfig { Mode = (uint)plan.StartMode, Generation = cfg.Generation + 1 });
    }

    private static void RemoveStaleDirections(AttachPlan plan, TapPaths paths)
    {
        using var dirs = TapMaps.Dirs(paths);
        foreach (var key in dirs.Keys())
            if (plan.Directions.All(d => (uint)d.IngressIndex != key))
                dirs.Delete(key);
    }

    /// <summary>Frames larger than the egress or recorder MTU are dropped by the kernel after the program: say so now.</summary>
    private static void CheckMtus(AttachPlan plan, TextWriter log)
    {
        foreach (var d in plan.Directions)
        {
            int inMtu = NetDev.Mtu(d.Ingress) ?? 0;
            int outMtu = NetDev.Mtu(d.Egress) ?? 0;
            if (outMtu < inMtu)
                log.WriteLine($"tcloader: warning: {d.Egress} MTU {outMtu} < {d.Ingress} MTU {inMtu}: larger frames will be dropped at the egress");
            if (d.Record && d.Recorder != null && (NetDev.Mtu(d.Recorder) ?? 0) < inMtu)
                log.WriteLine($"tcloader: warning: recorder {d.Recorder} MTU {NetDev.Mtu(d.Recorder)} < {d.Ingress} MTU {inMtu}: larger frames will not be recorded");
        }
    }
}
