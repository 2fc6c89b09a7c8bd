using Tap.TcLoader.Plan;
using Tap.TcLoader.State;

namespace Tap.TcLoader.Hooks;

/// <summary>The table of hook backends, one per data path.</summary>
public static class Backends
{
    public static readonly IReadOnlyList<IHookBackend> All = [new TcHookBackend(), new XdpHookBackend()];

    public static IHookBackend For(DataPath path) => All.First(b => b.Path == path);

    public static IHookBackend Owner(HookRecord hook) =>
        All.FirstOrDefault(b => b.Owns(hook)) ?? throw new InvalidOperationException($"no backend owns hook kind '{hook.Kind}'");

    /// <summary>
    /// Hooks whose link is pinned but which the state file does not list (a kill -9 between pin and
    /// state write): detach must find these too.
    /// </summary>
    public static IEnumerable<HookRecord> OrphanPins(TapPaths paths, IEnumerable<HookRecord> known)
    {
        if (!Directory.Exists(paths.LinkDir)) yield break;
        var knownPins = known.Select(h => h.LinkPin).Where(p => p != null).ToHashSet();
        foreach (var pin in Directory.EnumerateFiles(paths.LinkDir))
        {
            if (knownPins.Contains(pin)) continue;
            var name = System.IO.Path.GetFileName(pin);
            var dash = name.IndexOf('-');
            if (dash < 0 || !int.TryParse(name[(dash + 1)..], out int ifindex)) continue;
            string kind = name[..dash] switch { "tcx" => "tcx", "xdp" => "xdp-native", _ => "" };
            if (kind == "") continue;
            yield return new HookRecord { Ifname = Tap.Interop.NetDev.Name(ifindex) ?? $"if{ifindex}", Ifindex = ifindex, Kind = kind, LinkPin = pin };
        }
    }
}
