using System.Text.Json;
using Spectre.Console;
using Tap.Interop;
using Tap.TcLoader.State;
using Tap.TcLoader.View;

namespace Tap.TcLoader.Commands;

/// <summary>stats [--json] [--watch SECONDS [--count N]]</summary>
public static class StatsCommand
{
    public static int Run(TapPaths paths, bool json, bool prometheus, string? metricsFile, double watch, int count,
        TextWriter stdout, IAnsiConsole console, CancellationToken ct)
    {
        var state = TapState.Load(paths) ?? throw new TapUsageException("tcloader stats: nothing attached", ExitCodes.NotAttached);
        var prev = StatsReader.Read(paths, state);
        if (metricsFile != null) PrometheusText.WriteFile(metricsFile, PrometheusText.Render(prev));
        if (watch <= 0)
        {
            if (prometheus) stdout.Write(PrometheusText.Render(prev));
            else if (json) stdout.WriteLine(Json(prev, null));
            else if (metricsFile == null) console.Write(StatsView.Table(prev, null));
            return ExitCodes.Ok;
        }
        for (int i = 0; count <= 0 || i < count; i++)
        {
            try { Task.Delay(TimeSpan.FromSeconds(watch), ct).Wait(ct); }
            catch (OperationCanceledException) { break; }
            var cur = StatsReader.Read(paths, state);
            if (metricsFile != null) PrometheusText.WriteFile(metricsFile, PrometheusText.Render(cur));
            if (prometheus) stdout.Write(PrometheusText.Render(cur));
            else if (json) stdout.WriteLine(Json(cur, prev));
            else
            {
                console.Clear(home: true);
                console.Write(StatsView.Table(cur, prev));
            }
            prev = cur;
        }
        return ExitCodes.Ok;
    }

    public static string Json(StatsSnapshot cur, StatsSnapshot? prev)
    {
        double secs = prev == null ? 0 : (cur.At - prev.At).TotalSeconds;
        var pairs = cur.Directions.Select((d, i) => StatsReader.ToJson(d, prev?.Directions.ElementAtOrDefault(i), secs)).ToList();
        var o = new Dictionary<string, object?>
        {
            ["mode"] = cur.Mode.ToString().ToLowerInvariant(),
            ["path"] = cur.Path,
            ["pairs"] = pairs,
            ["unpaired"] = new Dictionary<string, ulong> { ["packets"] = cur.Unpaired.Packets, ["bytes"] = cur.Unpaired.Bytes },
        };
        return JsonSerializer.Serialize(o);
    }
}
