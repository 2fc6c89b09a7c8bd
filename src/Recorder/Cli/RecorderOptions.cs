using System.Globalization;
using System.Net;
using Tap.Interop;
using Tap.Recorder.Capture;

namespace Tap.Recorder.Cli;

public enum SourceKind { AfPacket, AfXdp }

/// <summary>The recorder's validated command line. Raw strings come in; bad values leave as one <see cref="TapUsageException"/> line.</summary>
public sealed record RecorderOptions
{
    public required string Interface { get; init; }
    public required string OutputDir { get; init; }
    public SourceKind Source { get; init; } = SourceKind.AfPacket;
    public CaptureFormat Format { get; init; } = CaptureFormat.Pcapng;
    public bool Lz4 { get; init; }
    public int Snaplen { get; init; } = 262144;
    public long RotateSizeBytes { get; init; }
    public int RotateSeconds { get; init; }
    public double DurationSeconds { get; init; }
    public string? StatsJson { get; init; }
    public int Queues { get; init; } = 1;
    public IPEndPoint? Metrics { get; init; }
    public string? MetricsFile { get; init; }
    public bool Json { get; init; }
    public double StatsIntervalSeconds { get; init; } = 5;

    public static SourceKind ParseSource(string s) => s switch
    {
        "afpacket" => SourceKind.AfPacket,
        "afxdp" => SourceKind.AfXdp,
        _ => throw new TapUsageException($"--source: '{s}' is not one of afxdp, afpacket"),
    };

    public static CaptureFormat ParseFormat(string s) => s switch
    {
        "pcap" => CaptureFormat.Pcap,
        "pcapng" => CaptureFormat.Pcapng,
        _ => throw new TapUsageException($"--format: '{s}' is not one of pcap, pcapng"),
    };

    /// <summary>SIZE: a byte count with an optional K, M or G suffix (powers of 1024; a trailing B or iB is allowed).</summary>
    public static long ParseSize(string opt, string s)
    {
        string t = s.Trim();
        long mul = 1;
        string u = t.ToUpperInvariant();
        if (u.EndsWith("IB")) u = u[..^2]; else if (u.EndsWith('B')) u = u[..^1];
        if (u.Length > 0)
        {
            switch (u[^1])
            {
                case 'K': mul = 1L << 10; u = u[..^1]; break;
                case 'M': mul = 1L << 20; u = u[..^1]; break;
                case 'G': mul = 1L << 30; u = u[..^1]; break;
            }
        }
        if (!long.TryParse(u, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n <= 0 || n > long.MaxValue / mul)
            throw new TapUsageException($"{opt}: '{s}' is not a size like 500M, 4G or 1048576");
        return n * mul;
    }

    public static int ParseInt(string opt, string s, int min, int max)
    {
        if (!int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
            throw new TapUsageException($"{opt}: '{s}' is not an integer in [{min}, {max}]");
        return v;
    }

    public static double ParseSeconds(string opt, string s)
    {
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !(v > 0) || v > 365 * 86400)
            throw new TapUsageException($"{opt}: '{s}' is not a positive number of seconds");
        return v;
    }

    /// <summary>ADDR:PORT on loopback only: the metrics are not for the network.</summary>
    public static IPEndPoint ParseLoopbackEndpoint(string opt, string s)
    {
        if (!IPEndPoint.TryParse(s, out var ep) || ep.Port == 0 || !s.Contains(':'))
        {
            if (s.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase) && int.TryParse(s[10..], out int p) && p is > 0 and < 65536)
                return new IPEndPoint(IPAddress.Loopback, p);
            throw new TapUsageException($"{opt}: '{s}' is not ADDR:PORT (e.g. 127.0.0.1:9464)");
        }
        if (!IPAddress.IsLoopback(ep.Address))
            throw new TapUsageException($"{opt}: {ep.Address} is not a loopback address; metrics are served on loopback only");
        return ep;
    }
}
