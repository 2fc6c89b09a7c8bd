using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Tap.Recorder.Metrics;

/// <summary>
/// One moment's counters of the whole recorder (all channels summed). The same snapshot feeds the
/// periodic line, --stats-json, the Prometheus endpoint and the textfile, so they cannot disagree.
/// dropped = socket_drops + queue_drops + disk_full_drops + write_errors, each counted in frames
/// (write_errors: frames lost to write errors other than disk-full; write_error_events counts the errors).
/// </summary>
public sealed record StatsSnapshot(
    string Interface, string Source, double ElapsedSeconds,
    long Packets, long Bytes, long SourceReceived,
    long SocketDrops, long QueueDrops, long DiskFullDrops, long WriteErrors,
    long BacklogBytes, double LastWriteAgeSeconds, long FileBytesWritten, bool DiskFull,
    IReadOnlyList<string> Files, IReadOnlyDictionary<string, long> Extra, IReadOnlyDictionary<string, string> Info)
{
    public long Dropped => SocketDrops + QueueDrops + DiskFullDrops + WriteErrors;

    public string ToJson(bool final)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = final, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteNumber("packets", Packets);
            w.WriteNumber("bytes", Bytes);
            w.WriteNumber("dropped", Dropped);
            w.WriteStartArray("files");
            foreach (var f in Files) w.WriteStringValue(f);
            w.WriteEndArray();
            w.WriteNumber("socket_drops", SocketDrops);
            w.WriteNumber("queue_drops", QueueDrops);
            w.WriteNumber("disk_full_drops", DiskFullDrops);
            w.WriteNumber("write_errors", WriteErrors);
            w.WriteNumber("received", SourceReceived);
            w.WriteNumber("backlog_bytes", BacklogBytes);
            w.WriteNumber("last_write_age_seconds", Math.Round(LastWriteAgeSeconds, 3));
            w.WriteNumber("file_bytes_written", FileBytesWritten);
            w.WriteBoolean("disk_full", DiskFull);
            w.WriteString("interface", Interface);
            w.WriteString("source", Source);
            w.WriteNumber("elapsed_seconds", Math.Round(ElapsedSeconds, 3));
            foreach (var (k, v) in Extra) w.WriteNumber(k, v);
            foreach (var (k, v) in Info) w.WriteString(k, v);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    public string ToHumanLine(StatsSnapshot? prev)
    {
        double dt = prev is null ? ElapsedSeconds : ElapsedSeconds - prev.ElapsedSeconds;
        double pps = dt > 0 ? (Packets - (prev?.Packets ?? 0)) / dt : 0;
        double bps = dt > 0 ? (Bytes - (prev?.Bytes ?? 0)) * 8 / dt : 0;
        string line = string.Create(CultureInfo.InvariantCulture,
            $"recorder: {ElapsedSeconds:F0}s packets={Packets} bytes={Bytes} rate={pps:F0}pps {bps / 1e6:F1}Mbit/s dropped={Dropped} (socket={SocketDrops} queue={QueueDrops} disk_full={DiskFullDrops} write_errors={WriteErrors}) backlog={BacklogBytes} files={Files.Count}");
        return DiskFull ? line + " DISK FULL" : line;
    }

    /// <summary>Prometheus text exposition format (also what node_exporter's textfile collector reads).</summary>
    public string ToPrometheus()
    {
        var sb = new StringBuilder();
        string labels = $"{{interface=\"{Interface}\",source=\"{Source}\"}}";
        void M(string name, string type, string help, double v)
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            sb.Append(name).Append(labels).Append(' ').Append(v.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }
        M("recorder_packets_total", "counter", "Frames written to capture files.", Packets);
        M("recorder_bytes_total", "counter", "Bytes of the frames written (original length).", Bytes);
        M("recorder_dropped_total", "counter", "Frames not recorded, all causes.", Dropped);
        M("recorder_socket_drops_total", "counter", "Frames dropped at the socket or ring.", SocketDrops);
        M("recorder_queue_drops_total", "counter", "Frames dropped because no write buffer was free.", QueueDrops);
        M("recorder_disk_full_drops_total", "counter", "Frames dropped because the disk was full.", DiskFullDrops);
        M("recorder_write_errors_total", "counter", "Frames lost to write errors.", WriteErrors);
        M("recorder_backlog_bytes", "gauge", "Bytes waiting to be written.", BacklogBytes);
        M("recorder_last_write_age_seconds", "gauge", "Seconds since the writer last completed a write.", LastWriteAgeSeconds);
        M("recorder_file_bytes_written_total", "counter", "Bytes written to files.", FileBytesWritten);
        M("recorder_files_total", "counter", "Completed capture files.", Files.Count);
        M("recorder_disk_full", "gauge", "1 while the output disk is full.", DiskFull ? 1 : 0);
        // Counters end in _total (Prometheus/OpenMetrics naming); a bare recorder_<key> breaks rate() conventions and OpenMetrics parsers.
        foreach (var (k, v) in Extra) M(k.EndsWith("_total") ? $"recorder_{k}" : $"recorder_{k}_total", "counter", $"Source counter {k}.", v);
        return sb.ToString();
    }
}
