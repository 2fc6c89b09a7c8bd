using Tap.Interop;

namespace Tap.TcLoader.State;

/// <summary>
/// The maps that outlive tcloader, pinned under PIN_DIR/maps. tc_clone.o and xdp_pass.o share
/// tap_dirs, tap_config and tap_stats, so configuration and counters survive a re-attach and a
/// switch between the TC and XDP paths.
/// </summary>
public static class TapMaps
{
    public static readonly string[] Shared = [TapConst.MapDirs, TapConst.MapConfig, TapConst.MapStats];

    /// <summary>
    /// Makes <paramref name="obj"/> reuse each pinned map whose layout matches what the object expects.
    /// A pin from an incompatible build is replaced, with one line saying so (calico#12876: a stale
    /// pin must not make the load fail).
    /// </summary>
    public static void Bind(BpfObject obj, TapPaths paths, IEnumerable<string> names, TextWriter log)
    {
        foreach (var name in names)
        {
            var pin = Path.Combine(paths.MapDir, name);
            using var fd = BpfFs.TryGet(pin);
            if (fd == null) continue;
            var want = obj.MapDef(name);
            var have = BpfIntrospect.MapInfo(fd.Fd);
            if (have.Type == want.Type && have.KeySize == want.KeySize && have.ValueSize == want.ValueSize && have.MaxEntries == want.MaxEntries)
            {
                obj.ReuseMap(name, fd);
                continue;
            }
            log.WriteLine($"tcloader: replacing pinned map {name} from an incompatible build " +
                $"(type {have.Type} key {have.KeySize} value {have.ValueSize} entries {have.MaxEntries}; " +
                $"this build: type {want.Type} key {want.KeySize} value {want.ValueSize} entries {want.MaxEntries})");
            File.Delete(pin);
        }
    }

    /// <summary>Pins every named map of the loaded object that is not pinned yet.</summary>
    public static void PinAll(BpfObject obj, TapPaths paths, IEnumerable<string> names)
    {
        Directory.CreateDirectory(paths.MapDir);
        foreach (var name in names)
        {
            var pin = Path.Combine(paths.MapDir, name);
            if (!File.Exists(pin)) BpfFs.Pin(obj.MapFd(name), pin);
        }
    }

    public static BpfMap<uint, TapDir> Dirs(TapPaths p) => BpfMap<uint, TapDir>.OpenPinned(Path.Combine(p.MapDir, TapConst.MapDirs));
    public static BpfMap<uint, TapConfig> Config(TapPaths p) => BpfMap<uint, TapConfig>.OpenPinned(Path.Combine(p.MapDir, TapConst.MapConfig));
    public static BpfMap<uint, TapStats> Stats(TapPaths p) => BpfMap<uint, TapStats>.OpenPinned(Path.Combine(p.MapDir, TapConst.MapStats));

    /// <summary>Sums one slot over all CPUs.</summary>
    public static TapStats Sum(BpfMap<uint, TapStats> map, int slot)
    {
        var total = new TapStats();
        foreach (var cpu in map.LookupPerCpu((uint)slot)) total.Add(cpu);
        return total;
    }
}
