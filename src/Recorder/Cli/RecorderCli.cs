using System.CommandLine;
using Tap.Interop;
using Tap.Recorder.Verify;

namespace Tap.Recorder.Cli;

/// <summary>
/// The command line (DESIGN.md contract): `recorder --interface IFACE --output DIR ...` and `recorder verify FILE... [--json]`.
/// Parse errors and bad values become one line on stderr and a non-zero exit (<see cref="ExitCodes"/>).
/// </summary>
public static class RecorderCli
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var iface = new Option<string>("--interface", "-i") { Description = "interface to record (the recorder veth peer, e.g. rec0p)" };
        var output = new Option<string>("--output", "-o") { Description = "existing, writable output directory" };
        var source = new Option<string>("--source") { Description = "afpacket (TPACKET_V3 ring, default) or afxdp (XDP program + AF_XDP sockets)" };
        var format = new Option<string>("--format") { Description = "pcapng (default) or pcap" };
        var lz4 = new Option<bool>("--lz4") { Description = "compress each file as an LZ4 frame (.lz4)" };
        var snaplen = new Option<string>("--snaplen") { Description = "bytes kept per frame (default and maximum 262144)" };
        var rotSize = new Option<string>("--rotate-size") { Description = "start a new file after SIZE bytes (K/M/G suffixes)" };
        var rotSec = new Option<string>("--rotate-seconds") { Description = "start a new file every N seconds" };
        var duration = new Option<string>("--duration") { Description = "stop after SECONDS" };
        var statsJson = new Option<string>("--stats-json") { Description = "write the final counters to FILE as JSON at exit" };
        var queues = new Option<string>("--queues") { Description = "afxdp: one socket per rx queue 0..N-1; afpacket: N fanout sockets and threads (default 1)" };
        var metrics = new Option<string>("--metrics") { Description = "serve Prometheus text on ADDR:PORT (loopback only)" };
        var metricsFile = new Option<string>("--metrics-file") { Description = "rewrite PATH atomically every interval (node_exporter textfile format)" };
        var json = new Option<bool>("--json") { Description = "print the periodic counters line as JSON on stdout" };
        var interval = new Option<string>("--stats-interval") { Description = "seconds between counters lines (default 5)" };

        var root = new RootCommand("Records the tap's clone stream from a recorder interface into pcap/pcapng files.");
        foreach (var o in new Option[] { iface, output, source, format, lz4, snaplen, rotSize, rotSec, duration, statsJson, queues, metrics, metricsFile, json, interval })
            root.Options.Add(o);

        var verify = new Command("verify", "Checks capture files: every record whole, counts per file.");
        var files = new Argument<string[]>("FILE") { Arity = ArgumentArity.OneOrMore, Description = "capture files (.pcap, .pcapng, optionally .lz4)" };
        var verifyJson = new Option<bool>("--json") { Description = "one JSON object on stdout" };
        verify.Arguments.Add(files);
        verify.Options.Add(verifyJson);
        verify.SetAction(pr => VerifyCommand.Run(pr.GetValue(files) ?? [], pr.GetValue(verifyJson), stdout, stderr));
        root.Subcommands.Add(verify);

        root.SetAction(pr =>
        {
            string? S(Option<string> o) => pr.GetValue(o);
            string req(Option<string> o) => S(o) is { Length: > 0 } v ? v : throw new TapUsageException($"{o.Name} is required");
            var opts = new RecorderOptions
            {
                Interface = req(iface),
                OutputDir = req(output),
                Source = S(source) is { } src ? RecorderOptions.ParseSource(src) : SourceKind.AfPacket,
                Format = S(format) is { } f ? RecorderOptions.ParseFormat(f) : Capture.CaptureFormat.Pcapng,
                Lz4 = pr.GetValue(lz4),
                Snaplen = S(snaplen) is { } sl ? RecorderOptions.ParseInt("--snaplen", sl, 64, 262144) : 262144,
                RotateSizeBytes = S(rotSize) is { } rs ? RecorderOptions.ParseSize("--rotate-size", rs) : 0,
                RotateSeconds = S(rotSec) is { } rsec ? RecorderOptions.ParseInt("--rotate-seconds", rsec, 1, 365 * 86400) : 0,
                DurationSeconds = S(duration) is { } d ? RecorderOptions.ParseSeconds("--duration", d) : 0,
                StatsJson = S(statsJson),
                Queues = S(queues) is { } q ? RecorderOptions.ParseInt("--queues", q, 1, 64) : 1,
                Metrics = S(metrics) is { } m ? RecorderOptions.ParseLoopbackEndpoint("--metrics", m) : null,
                MetricsFile = S(metricsFile),
                Json = pr.GetValue(json),
                StatsIntervalSeconds = S(interval) is { } si ? RecorderOptions.ParseSeconds("--stats-interval", si) : 5,
            };
            return RecorderRunner.Run(opts, stdout, stderr);
        });

        try
        {
            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                stderr.WriteLine($"recorder: {parsed.Errors[0].Message} (see --help)");
                return ExitCodes.Usage;
            }
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (TapUsageException e)
        {
            stderr.WriteLine($"recorder: {e.Message}");
            return e.ExitCode;
        }
        catch (BpfException e)
        {
            stderr.WriteLine($"recorder: {e.Message}");
            return ExitCodes.Failure;
        }
    }
}
