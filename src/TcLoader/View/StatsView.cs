using Spectre.Console;
using Spectre.Console.Rendering;
using Tap.TcLoader.Commands;

namespace Tap.TcLoader.View;

/// <summary>The people's view of the counters: one row per direction, with rates when there is a previous sample.</summary>
public static class StatsView
{
    public static IRenderable Table(StatsSnapshot cur, StatsSnapshot? prev)
    {
        double secs = prev == null ? 0 : (cur.At - prev.At).TotalSeconds;
        var t = new Table().Title($"tap: {cur.Path} path, mode {cur.Mode.ToString().ToLowerInvariant()}");
        foreach (var h in new[] { "direction", "packets", "pkt/s", "bit/s", "forwarded", "cloned", "fwd err", "clone err", "passed", "egress drops" })
            t.AddColumn(new TableColumn(h).RightAligned());
        for (int i = 0; i < cur.Directions.Count; i++)
        {
            var d = cur.Directions[i];
            var p = prev?.Directions.ElementAtOrDefault(i);
            var c = d.Counters;
            string pps = p == null || secs <= 0 ? "-" : Si((c.Packets - p.Counters.Packets) / secs);
            string bps = p == null || secs <= 0 ? "-" : Si((c.Bytes - p.Counters.Bytes) * 8 / secs);
            t.AddRow(
                Markup.Escape($"{d.Dir.Ingress} > {d.Dir.Egress}{(d.Dir.Record ? " +rec" : "")}"),
                c.Packets.ToString("N0"), pps, bps, c.Forwarded.ToString("N0"), c.Cloned.ToString("N0"),
                Alert(c.ForwardErrors), Alert(c.CloneErrors), c.Passed.ToString("N0"),
                d.EgressTxDropped is ulong x ? Alert(x) : "-");
        }
        return t;
    }

    private static string Alert(ulong v) => v == 0 ? "0" : $"[red]{v:N0}[/]";

    public static string Si(double v) => v switch
    {
        >= 1e9 => $"{v / 1e9:F2}G",
        >= 1e6 => $"{v / 1e6:F2}M",
        >= 1e3 => $"{v / 1e3:F1}k",
        _ => $"{v:F0}",
    };
}
