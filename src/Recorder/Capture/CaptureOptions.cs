using Tap.Interop;

namespace Tap.Recorder.Capture;

public enum CaptureFormat { Pcap, Pcapng }

/// <summary>What the writer produces. Snaplen 0 means 262144; RotateSizeBytes/RotateSeconds 0 mean never.
/// RotateSizeBytes counts capture bytes before compression.</summary>
public sealed record CaptureOptions(
    string OutputDir, CaptureFormat Format, bool Lz4, int Snaplen,
    long RotateSizeBytes, int RotateSeconds,
    string InterfaceName, int LinkType = 1,
    string FilePrefix = "capture", int BufferBytes = 4 << 20, int Blocks = 8)
{
    public const int DefaultSnaplen = 262144;
    /// <summary>Upper bound of one writer's block pool (Blocks x BufferBytes is capped to it): memory stays bounded.</summary>
    public const long MaxPoolBytes = 256L << 20;
    public int EffectiveSnaplen => Snaplen <= 0 ? DefaultSnaplen : Math.Min(Snaplen, DefaultSnaplen);
}

/// <summary>A consistent-enough snapshot of the writer's counters. Frames/Bytes are frames kept (accepted and,
/// after a disk-full, only those that reached the disk). Drops: QueueDrops (no free block), DiskFullDrops.</summary>
public sealed record WriterStats(long Frames, long Bytes, long QueueDrops, long WriteErrors,
    long DiskFullDrops, long BacklogBytes, double LastWriteAgeSeconds, long FileBytesWritten, IReadOnlyList<string> Files, bool DiskFull)
{
    /// <summary>Frames whose timestamp was before 2000-01-01 and were re-stamped with the wall clock.</summary>
    public long BadTimestamps { get; init; }
    /// <summary>Cumulative drops reported by the packet source (CountSourceDrops).</summary>
    public long SourceDrops { get; init; }
    /// <summary>Frames lost because a write error other than disk-full broke the file they were in.</summary>
    public long WriteErrorDrops { get; init; }
    /// <summary>Whether the current/last file was written with O_DIRECT.</summary>
    public bool DirectIo { get; init; }
    /// <summary>The O_DIRECT alignment in use (bytes).</summary>
    public int Alignment { get; init; }
    /// <summary>Bytes copied through the I/O thread's staging buffer (file tails, pcapng ISB, LZ4 output); full
    /// uncompressed blocks are written straight from the block pool and do not count here.</summary>
    public long StagedBytes { get; init; }
    public long TotalDrops => QueueDrops + DiskFullDrops + SourceDrops + WriteErrorDrops;
}

/// <summary>Wall-clock time for capture timestamps. Never use a monotonic clock for a pcap timestamp.</summary>
public static class WallClock
{
    /// <summary>2000-01-01T00:00:00Z in ns: any frame stamped before this is a clock bug (monotonic time, 1970).</summary>
    public const long MinPlausibleNs = 946_684_800L * 1_000_000_000L;

    /// <summary>CLOCK_REALTIME in nanoseconds since the Unix epoch.</summary>
    public static long NowNs() => Libc.ClockNs(Libc.CLOCK_REALTIME);

    /// <summary>CLOCK_MONOTONIC ns (what bpf_ktime_get_ns returns).</summary>
    public static long MonotonicNs() => Libc.ClockNs(Libc.CLOCK_MONOTONIC);

    /// <summary>Offset to add to a CLOCK_MONOTONIC stamp to get CLOCK_REALTIME (sample it once; it moves with NTP steps).</summary>
    public static long MonotonicToRealtimeOffsetNs()
    {
        long a = NowNs(), m = MonotonicNs(), b = NowNs();
        return a + (b - a) / 2 - m;
    }

    /// <summary>CLOCK_TAI ns to CLOCK_REALTIME ns using the kernel's current TAI offset.</summary>
    public static long TaiToRealtimeNs(long taiNs)
    {
        long r = NowNs(), t = Libc.ClockNs(Libc.CLOCK_TAI);
        long off = (long)Math.Round((t - r) / 1e9) * 1_000_000_000L; // whole seconds
        return taiNs - off;
    }

    public static string FileStamp(long ns)
    {
        var dt = DateTime.UnixEpoch.AddTicks(ns / 100);
        return dt.ToString("yyyyMMdd'T'HHmmss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);
    }

    public static string Iso(long ns)
    {
        var dt = DateTime.UnixEpoch.AddTicks(ns / 100);
        return dt.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff", System.Globalization.CultureInfo.InvariantCulture) + (ns % 100).ToString("00") + "Z";
    }
}
