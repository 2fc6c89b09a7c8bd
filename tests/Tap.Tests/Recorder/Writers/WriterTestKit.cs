using System.Buffers.Binary;
using System.Globalization;
using System.Text.RegularExpressions;
using Tap.Recorder.Capture;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.Recorder.Writers;

/// <summary>Frames with a lab sequence counter, temp dirs, and the real clients (tcpdump, lz4, capinfos, tshark).</summary>
public static class Kit
{
    public const long T0 = 1_750_000_000_000_000_000L; // 2025-06-15, a plausible wall clock

    /// <summary>Ethernet + IPv4 + UDP + lab header (magic, stream, seq) + a seq-dependent fill, exactly `size` bytes.</summary>
    public static byte[] LabFrame(uint stream, ulong seq, int size, ushort? vlan = null, ushort dport = 5000)
    {
        size = Math.Max(size, 64);
        var f = new byte[size];
        byte[] dst = [0x02, 0x74, 0x61, 0x70, 0, 2], src = [0x02, 0x74, 0x61, 0x70, 0, 1];
        dst.CopyTo(f, 0); src.CopyTo(f, 6);
        int o = 12;
        if (vlan is ushort v) { BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(o), 0x8100); BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(o + 2), v); o += 4; }
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(o), 0x0800); o += 2;
        int ipLen = size - o;
        f[o] = 0x45; BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(o + 2), (ushort)Math.Min(ipLen, 65535));
        f[o + 8] = 64; f[o + 9] = 17;
        byte[] sip = [198, 18, 0, 1], dip = [198, 18, 0, 2];
        sip.CopyTo(f, o + 12); dip.CopyTo(f, o + 16);
        int u = o + 20;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(u), 4000);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(u + 2), dport);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(u + 4), (ushort)Math.Min(ipLen - 20, 65535));
        int p = u + 8;
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(p), 0x54415053);
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(p + 4), stream);
        BinaryPrimitives.WriteUInt64BigEndian(f.AsSpan(p + 8), seq);
        var rng = new Random((int)(seq * 31 + stream));
        rng.NextBytes(f.AsSpan(p + 16));
        return f;
    }

    public static int SizeFor(int i) => (i % 7) switch { 0 => 64, 1 => 1514, 2 => 9014, 3 => 60 + i % 1400, 4 => 333, 5 => 1500, _ => 127 };

    public static string TempDir(string? under = null)
    {
        var d = Path.Combine(under ?? Path.GetTempPath(), "tapw-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(d);
        return d;
    }

    public static RunResult Tool(string file, string args, int timeoutMs = 120_000)
    {
        var path = new[] { "/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin" }.Select(d => Path.Combine(d, file)).FirstOrDefault(File.Exists);
        Assert.True(path != null, $"{file} is required by this test and is not installed");
        var r = Run.Cmd(path!, args, timeoutMs);
        // Wireshark tools warn about running as root; that is the environment, not the file.
        var err = string.Join("\n", r.Stderr.Split('\n').Where(l => !l.Contains("Running as user \"root\"") && l.Trim().Length > 0));
        return r with { Stderr = err };
    }

    /// <summary>`tcpdump -r F -nn -xx`: every packet as (header line, bytes).</summary>
    public static List<(string Line, byte[] Data)> TcpdumpPackets(string file)
    {
        var r = Tool("tcpdump", $"-r \"{file}\" -nn -e -xx --time-stamp-precision=nano -tt");
        Assert.True(r.ExitCode == 0, $"tcpdump failed on {file}: {r}");
        Assert.DoesNotContain("truncated", r.Stderr, StringComparison.OrdinalIgnoreCase);
        var list = new List<(string, byte[])>();
        string? line = null; var bytes = new List<byte>();
        foreach (var l in r.Stdout.Split('\n'))
        {
            if (l.StartsWith('\t'))
            {
                int colon = l.IndexOf(':');
                foreach (var tok in l[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    for (int i = 0; i + 1 < tok.Length + 1 && i < tok.Length; i += 2)
                        bytes.Add(byte.Parse(tok.AsSpan(i, 2), NumberStyles.HexNumber));
            }
            else if (l.Length > 0)
            {
                if (line != null) list.Add((line, bytes.ToArray()));
                line = l; bytes = new List<byte>();
            }
        }
        if (line != null) list.Add((line, bytes.ToArray()));
        return list;
    }

    public static long TcpdumpCount(string file) => TcpdumpPackets(file).Count;

    public static string Lz4Decompress(string file)
    {
        string outp = file[..^4] + ".dec";
        var r = Tool("lz4", $"-d -f -q \"{file}\" \"{outp}\"");
        Assert.True(r.ExitCode == 0, $"lz4 -d failed on {file}: {r}");
        return outp;
    }

    public static long TsOf(string tcpdumpLine) =>
        (long)(decimal.Parse(tcpdumpLine.Split(' ')[0], CultureInfo.InvariantCulture) * 1_000_000_000m);

    public static CaptureOptions Opts(string dir, CaptureFormat fmt, bool lz4 = false, int snap = 0, long rotSize = 0, int rotSec = 0, int buf = 1 << 20, int blocks = 8) =>
        new(dir, fmt, lz4, snap, rotSize, rotSec, "rec0p", BufferBytes: buf, Blocks: blocks);

    /// <summary>Writes `n` lab frames (stream 1, seq 0..n-1), 1 µs apart; returns them.</summary>
    public static List<byte[]> WriteFrames(CaptureWriter w, int n, long t0 = T0, long stepNs = 1000, Func<int, int>? size = null)
    {
        var frames = new List<byte[]>(n);
        for (int i = 0; i < n; i++)
        {
            var f = LabFrame(1, (ulong)i, (size ?? SizeFor)(i));
            frames.Add(f);
            Paced(w);
            w.Write(f, f.Length, t0 + i * stepNs);
        }
        return frames;
    }

    /// <summary>Tests that check every frame wait for a free block (the recorder itself never waits).</summary>
    public static void Paced(CaptureWriter w)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (w.FreeBlocks < 2 && sw.ElapsedMilliseconds < 30_000) Thread.Sleep(1);
    }

    public static string[] Outputs(string dir) => Directory.GetFiles(dir).Where(f => !f.EndsWith(".dec")).OrderBy(f => f, StringComparer.Ordinal).ToArray();

    public static void Cleanup(string dir) { try { Directory.Delete(dir, true); } catch (IOException) { } }
}
