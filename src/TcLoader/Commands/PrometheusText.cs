using System.Globalization;
using System.Text;
using Tap.Interop;

namespace Tap.TcLoader.Commands;

/// <summary>
/// Prometheus text exposition (format 0.0.4) of a stats snapshot, for node_exporter's textfile
/// collector: `tcloader stats --prometheus` once, or `--watch N --metrics-file F` to keep F fresh.
/// </summary>
public static class PrometheusText
{
    public static unsafe string Render(StatsSnapshot s)
    {
        var sb = new StringBuilder();
        void Family(string name, string type, string help, IEnumerable<(string Labels, double Value)> samples)
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            foreach (var (labels, v) in samples)
                sb.Append(name).Append(labels.Length > 0 ? "{" + labels + "}" : "").Append(' ')
                  .Append(v.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        string L(DirectionStats d) => $"ingress=\"{d.Dir.Ingress}\",egress=\"{d.Dir.Egress}\",direction=\"{(d.Dir.Reverse ? "reverse" : "forward")}\"";
        IEnumerable<(string, double)> Per(Func<TapStats, ulong> f) => s.Directions.Select(d => (L(d), (double)f(d.Counters)));

        Family("tap_packets_total", "counter", "Frames seen at the ingress hook.", Per(c => c.Packets));
        Family("tap_bytes_total", "counter", "Bytes of the frames seen at the ingress hook.", Per(c => c.Bytes));
        Family("tap_forwarded_total", "counter", "Frames redirected to the egress port.", Per(c => c.Forwarded));
        Family("tap_forward_errors_total", "counter", "Frames the redirect helper refused.", Per(c => c.ForwardErrors));
        Family("tap_cloned_total", "counter", "Frames cloned to the recorder interface.", Per(c => c.Cloned));
        Family("tap_passed_total", "counter", "Frames handed to the host stack (pass mode).", Per(c => c.Passed));
        Family("tap_not_recorded_total", "counter", "Frames forwarded without a clone (forward mode or unrecorded direction).", Per(c => c.NotRecorded));
        Family("tap_clone_errors_total", "counter", "Clones refused, by cause.",
            s.Directions.SelectMany(d => Enum.GetValues<TapCloneErr>().Select(e =>
                ($"{L(d)},cause=\"{e.ToString().ToLowerInvariant()}\"", (double)CloneErr(d.Counters, e)))));
        Family("tap_egress_tx_dropped_total", "counter", "The egress device's tx_dropped (transmit failures after the redirect).",
            s.Directions.Where(d => d.EgressTxDropped.HasValue).Select(d => (L(d), (double)d.EgressTxDropped!.Value)));
        Family("tap_unpaired_packets_total", "counter", "Frames seen on a hooked interface with no pair.", [("", s.Unpaired.Packets)]);
        Family("tap_mode", "gauge", "1 for the current run-time mode.",
            Enum.GetValues<TapMode>().Select(m => ($"mode=\"{m.ToString().ToLowerInvariant()}\"", m == s.Mode ? 1.0 : 0.0)));
        return sb.ToString();
    }

    private static unsafe ulong CloneErr(TapStats c, TapCloneErr e) => c.CloneErr[(int)e];

    /// <summary>Write-then-rename, so a collector never reads half a file.</summary>
    public static void WriteFile(string path, string text)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }
}
