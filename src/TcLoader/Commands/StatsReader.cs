using Tap.Interop;
using Tap.TcLoader.Plan;
using Tap.TcLoader.State;

namespace Tap.TcLoader.Commands;

/// <summary>The counters of one direction, summed over CPUs, plus what the egress device says.</summary>
public sealed record DirectionStats(Direction Dir, TapStats Counters, ulong? EgressTxDropped, ulong? RecorderTxDropped);

public sealed record StatsSnapshot(DateTime At, TapMode Mode, string Path, IReadOnlyList<DirectionStats> Directions, TapStats Unpaired);

public static class StatsReader
{
    public static StatsSnapshot Read(TapPaths paths, TapState state)
    {
        using var map = TapMaps.Stats(paths);
        using var config = TapMaps.Config(paths);
        config.TryLookup(0, out var cfg);
        var dirs = state.Directions
            .Select(d => new DirectionStats(d, TapMaps.Sum(map, d.Slot),
                // bpf_redirect cannot see a transmit that fails after it (cilium#3204): the egress
                // device's own drop counter is where forward failures show up.
                NetDev.Counter(d.Egress, "tx_dropped"),
                d.Recorder != null ? NetDev.Counter(d.Recorder, "tx_dropped") : null))
            .ToList();
        return new StatsSnapshot(DateTime.UtcNow, (TapMode)cfg.Mode, state.Path, dirs, TapMaps.Sum(map, TapConst.SlotUnpaired));
    }

    public static unsafe Dictionary<string, object?> ToJson(DirectionStats s, DirectionStats? prev, double seconds)
    {
        var c = s.Counters;
        var errs = new Dictionary<string, ulong>();
        foreach (TapCloneErr e in Enum.GetValues<TapCloneErr>())
            errs[e.ToString().ToLowerInvariant()] = c.CloneErr[(int)e];
        var o = new Dictionary<string, object?>
        {
            ["ingress"] = s.Dir.Ingress,
            ["egress"] = s.Dir.Egress,
            ["reverse"] = s.Dir.Reverse,
            ["recorder"] = s.Dir.Record ? s.Dir.Recorder : null,
            ["packets"] = c.Packets,
            ["bytes"] = c.Bytes,
            ["forwarded"] = c.Forwarded,
            ["cloned"] = c.Cloned,
            ["forward_errors"] = c.ForwardErrors,
            ["clone_errors"] = c.CloneErrors,
            ["passed"] = c.Passed,
            ["not_recorded"] = c.NotRecorded,
            ["clone_errors_by_cause"] = errs,
            ["egress_tx_dropped"] = s.EgressTxDropped,
            ["recorder_tx_dropped"] = s.RecorderTxDropped,
        };
        if (prev != null && seconds > 0)
        {
            o["packets_per_second"] = Math.Round((c.Packets - prev.Counters.Packets) / seconds, 1);
            o["bits_per_second"] = Math.Round((c.Bytes - prev.Counters.Bytes) * 8 / seconds, 1);
        }
        return o;
    }
}
