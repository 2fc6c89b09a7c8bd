using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.Recorder.Capture;

/// <summary>
/// A two-ended veth of the test's own: namespace rcsrc holds rcs0, the root namespace holds rcrec0p,
/// where the recorder captures. IPv6 is off on both ends so the link carries only the test's frames.
/// Torn down on Dispose, also after a failed set-up.
/// </summary>
public sealed class SrcTopo : IDisposable
{
    public const string Ns = "rcsrc", SrcIf = "rcs0", RecIf = "rcrec0p";
    public string OutDir { get; } = Path.Combine(Path.GetTempPath(), $"rc-out-{Guid.NewGuid():N}");

    public SrcTopo(int mtu = 1500)
    {
        Down();
        var r = Run.Sh($"ip netns add {Ns} && ip link add {RecIf} mtu {mtu} type veth peer name {SrcIf} mtu {mtu} netns {Ns} && " +
                       $"sysctl -qw net.ipv6.conf.{RecIf}.disable_ipv6=1 && ip netns exec {Ns} sysctl -qw net.ipv6.conf.{SrcIf}.disable_ipv6=1 && " +
                       $"ip link set {RecIf} up && ip -n {Ns} link set {SrcIf} up", 30_000);
        if (r.ExitCode != 0) { Dispose(); throw new InvalidOperationException("topology: " + r); }
        Directory.CreateDirectory(OutDir);
    }

    /// <summary>Sends numbered lab frames from rcsrc; returns tapgen's JSON line.</summary>
    public JsonElement Send(long count, string size, int pps)
    {
        var r = Run.Cmd("ip", $"netns exec {Ns} {TestEnv.Tapgen} send --iface {SrcIf} --count {count} --size {size} --pps {pps} --seq-start 0 --duration-max 60", 90_000);
        Assert.True(r.ExitCode == 0, "tapgen send: " + r);
        return JsonDocument.Parse(r.Stdout.Trim().Split('\n')[^1]).RootElement;
    }

    public Process StartSend(long count, string size, int pps) =>
        Run.Start("ip", $"netns exec {Ns} {TestEnv.Tapgen} send --iface {SrcIf} --count {count} --size {size} --pps {pps} --seq-start 0 --duration-max 60");

    private static void Down()
    {
        Run.Sh($"ip link del {RecIf} 2>/dev/null; ip netns del {Ns} 2>/dev/null; true", 30_000);
    }

    public void Dispose()
    {
        Down();
        try { Directory.Delete(OutDir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>bin/recorder as a child process whose stderr is watched for the "recording" line.</summary>
/// <summary>The lab frame, rebuilt in C# from tapgen's build_frame() rule (defaults: stream 0, 198.18.0.1 -> .2).</summary>
public static class LabFrame
{
    private static ulong SplitMix64(ulong x)
    {
        ulong z = x + 0x9e3779b97f4a7c15UL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
        return z ^ (z >> 31);
    }

    public static int Length(ulong seq, int min, int max) => min == max ? min : min + (int)(SplitMix64(seq) % (ulong)(max - min + 1));

    public static byte[] Build(ulong seq, int min, int max)
    {
        int len = Length(seq, min, max);
        var b = new byte[len];
        byte[] dst = [0x02, 0x74, 0x61, 0x70, 0x00, 0x02], src = [0x02, 0x74, 0x61, 0x70, 0x00, 0x01];
        dst.CopyTo(b, 0); src.CopyTo(b, 6);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(12), 0x0800);
        var ip = b.AsSpan(14);
        ip[0] = 0x45; BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(len - 14)); ip[8] = 64; ip[9] = 17;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], 0xc6120001); BinaryPrimitives.WriteUInt32BigEndian(ip[16..], 0xc6120002);
        uint sum = 0;
        for (int i = 0; i < 20; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(ip[i..]);
        while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], (ushort)~sum);
        var udp = ip[20..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, 40000); BinaryPrimitives.WriteUInt16BigEndian(udp[2..], 5001);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(len - 34));
        var pl = udp[8..];
        BinaryPrimitives.WriteUInt32BigEndian(pl, 0x54415053); BinaryPrimitives.WriteUInt64BigEndian(pl[8..], seq);
        byte bas = (byte)(seq * 31);
        for (int i = 16; i < pl.Length; i++) pl[i] = (byte)(bas + (i - 16));
        return b;
    }

    public static ulong Seq(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadUInt64BigEndian(frame[(14 + 20 + 8 + 8)..]);
}

/// <summary>A minimal reader of pcap (us/ns) and pcapng (EPB) for byte comparison; compatibility is tcpdump's job.</summary>

public sealed class RecorderCaptureTests
{
    private static string Raw(string file, string dir)
    {
        if (!file.EndsWith(".lz4")) return file;
        string raw = Path.Combine(dir, Path.GetFileNameWithoutExtension(file) + ".raw");
        var r = Run.Cmd("lz4", $"-d -f -q {file} {raw}", 60_000);
        Assert.True(r.ExitCode == 0, $"lz4 -d {file}: {r}");
        return raw;
    }

    /// <summary>tcpdump -r reads the file without complaint; returns its frame count.</summary>
    private static long TcpdumpCount(string file)
    {
        var r = Run.Sh($"tcpdump -nn -r '{file}' 2>/tmp/rc-tcpdump.err | wc -l; cat /tmp/rc-tcpdump.err >&2; tcpdump -nn -r '{file}' -c 1 >/dev/null 2>&1", 120_000);
        Assert.True(r.ExitCode == 0, $"tcpdump -r {file}: {r}");
        Assert.DoesNotContain("truncated", r.Stderr);
        Assert.DoesNotContain("bad dump file", r.Stderr);
        return long.Parse(r.Stdout.Trim());
    }

    private static JsonElement StatsJson(string path)
    {
        Assert.True(File.Exists(path), "stats json missing");
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement;
    }

    private static readonly string[] StatsKeys = ["packets", "bytes", "dropped", "files", "socket_drops", "queue_drops", "disk_full_drops", "write_errors"];
    private static readonly string[] XdpKeys = ["rx_dropped", "rx_ring_full", "rx_fill_ring_empty_descs", "rx_invalid_descs"];

    [RootTheory]
    [InlineData("afpacket", "pcap", false)]
    [InlineData("afpacket", "pcapng", false)]
    [InlineData("afpacket", "pcapng", true)]
    [InlineData("afxdp", "pcap", false)]
    [InlineData("afxdp", "pcapng", false)]
    [InlineData("afxdp", "pcap", true)]
    public void Records_100k_numbered_frames_exactly(string source, string format, bool lz4)
    {
        const int N = 100_000;
        using var topo = new SrcTopo();
        string stats = Path.Combine(topo.OutDir, "stats.json");
        using var rec = new RecorderProcess($"--interface {SrcTopo.RecIf} --output {topo.OutDir} --source {source} --format {format}{(lz4 ? " --lz4" : "")} --stats-json {stats} --stats-interval 1");
        rec.WaitReady();
        topo.Send(N, "60:1500", 50_000); // 100k pps sometimes loses frames to CPU contention on 2 cores (writer queue, rx ring): exactness needs margin
        Thread.Sleep(500);
        rec.Signal(15);
        Assert.True(rec.WaitExit() == 0, rec.Stderr);

        var js = StatsJson(stats);
        foreach (var k in StatsKeys) Assert.True(js.TryGetProperty(k, out _), $"stats json lacks {k}");
        if (source == "afxdp") foreach (var k in XdpKeys) Assert.True(js.TryGetProperty(k, out _), $"stats json lacks {k}");
        Assert.Equal(N, js.GetProperty("packets").GetInt64());
        Assert.Equal(0, js.GetProperty("dropped").GetInt64());

        var files = js.GetProperty("files").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.NotEmpty(files);
        var seen = new bool[N];
        long total = 0;
        foreach (var f in files)
        {
            Assert.Equal(lz4, f.EndsWith(".lz4"));
            string raw = Raw(f, topo.OutDir);
            total += TcpdumpCount(raw);
            foreach (var frame in Pcap.Frames(File.ReadAllBytes(raw)))
            {
                ulong seq = LabFrame.Seq(frame);
                Assert.True(seq < N, $"seq {seq} out of range");
                Assert.False(seen[seq], $"seq {seq} twice");
                seen[seq] = true;
                Assert.True(frame.AsSpan().SequenceEqual(LabFrame.Build(seq, 60, 1500)), $"frame {seq} differs from tapgen's rule");
            }
        }
        Assert.Equal(N, total);
        Assert.All(seen, Assert.True);
        Assert.Empty(Directory.GetFiles(topo.OutDir, "*.part"));
    }

    [RootTheory]
    [InlineData("afpacket")]
    [InlineData("afxdp")]
    public void Jumbo_frames_are_recorded_whole(string source)
    {
        const int N = 5_000;
        using var topo = new SrcTopo(mtu: 9216);
        string stats = Path.Combine(topo.OutDir, "stats.json");
        using var rec = new RecorderProcess($"--interface {SrcTopo.RecIf} --output {topo.OutDir} --source {source} --format pcap --stats-json {stats}");
        rec.WaitReady();
        topo.Send(N, "9000", 10_000);
        Thread.Sleep(500);
        rec.Signal(15);
        Assert.True(rec.WaitExit() == 0, rec.Stderr);
        var js = StatsJson(stats);
        Assert.Equal(N, js.GetProperty("packets").GetInt64());
        var seen = new HashSet<ulong>();
        foreach (var f in js.GetProperty("files").EnumerateArray().Select(e => e.GetString()!))
            foreach (var frame in Pcap.Frames(File.ReadAllBytes(f)))
            {
                ulong seq = LabFrame.Seq(frame);
                Assert.True(seen.Add(seq));
                Assert.True(frame.AsSpan().SequenceEqual(LabFrame.Build(seq, 9000, 9000)), $"frame {seq} differs");
            }
        Assert.Equal(N, seen.Count);
    }

    [RootFact]
    public void Rotation_by_size_keeps_every_frame()
    {
        const int N = 20_000;
        using var topo = new SrcTopo();
        string stats = Path.Combine(topo.OutDir, "stats.json");
        using var rec = new RecorderProcess($"--interface {SrcTopo.RecIf} --output {topo.OutDir} --format pcap --rotate-size 2M --stats-json {stats}");
        rec.WaitReady();
        topo.Send(N, "60:1500", 50_000);
        Thread.Sleep(500);
        rec.Signal(15);
        Assert.True(rec.WaitExit() == 0, rec.Stderr);
        var files = StatsJson(stats).GetProperty("files").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.True(files.Count >= 5, $"expected several files, got {files.Count}");
        Assert.Equal(N, files.Sum(TcpdumpCount));
    }

    [RootFact]
    public void Sigterm_mid_capture_leaves_valid_files_and_stats()
    {
        using var topo = new SrcTopo();
        string stats = Path.Combine(topo.OutDir, "stats.json");
        using var rec = new RecorderProcess($"--interface {SrcTopo.RecIf} --output {topo.OutDir} --source afxdp --format pcapng --rotate-size 4M --stats-json {stats}");
        rec.WaitReady();
        using var sender = topo.StartSend(300_000, "60:1500", 50_000);
        Thread.Sleep(1500);
        rec.Signal(15);
        Assert.True(rec.WaitExit() == 0, rec.Stderr);
        Run.Wait(sender, 60_000);
        var js = StatsJson(stats);
        foreach (var k in StatsKeys.Concat(XdpKeys)) Assert.True(js.TryGetProperty(k, out _), $"stats json lacks {k}");
        var files = js.GetProperty("files").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.NotEmpty(files);
        Assert.Equal(js.GetProperty("packets").GetInt64(), files.Sum(TcpdumpCount));
        Assert.Empty(Directory.GetFiles(topo.OutDir, "*.part"));
        Assert.DoesNotContain(" xdp", Run.Cmd("ip", $"link show {SrcTopo.RecIf}").Stdout);
    }

    [RootFact]
    public void Kill9_mid_capture_leaves_completed_files_intact()
    {
        using var topo = new SrcTopo();
        using var rec = new RecorderProcess($"--interface {SrcTopo.RecIf} --output {topo.OutDir} --source afxdp --format pcap --rotate-size 2M");
        rec.WaitReady();
        using var sender = topo.StartSend(300_000, "60:1500", 50_000);
        Thread.Sleep(2000);
        rec.Signal(9);
        rec.WaitExit();
        Run.Wait(sender, 60_000);
        var done = Directory.GetFiles(topo.OutDir).Where(f => !f.EndsWith(".part")).ToList();
        Assert.NotEmpty(done);
        foreach (var f in done) Assert.True(TcpdumpCount(f) > 0);
        // The XDP program went with the process (BPF link): nothing left attached.
        Assert.DoesNotContain(" xdp", Run.Cmd("ip", $"link show {SrcTopo.RecIf}").Stdout);
    }

    [RootFact]
    public void Duration_stops_by_itself()
    {
        using var topo = new SrcTopo();
        string stats = Path.Combine(topo.OutDir, "stats.json");
        var sw = Stopwatch.StartNew();
        using var rec = new RecorderProcess($"--interface {SrcTopo.RecIf} --output {topo.OutDir} --duration 2 --stats-json {stats}");
        Assert.Equal(0, rec.WaitExit(20_000));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15));
        Assert.Equal(0, StatsJson(stats).GetProperty("packets").GetInt64());
    }

    public static TheoryData<string, string> BadInputs => new()
    {
        { "--interface rcnosuch0 --output /tmp", "unknown interface" },
        { "--interface lo --output /nonexistent/rc-dir", "does not exist" },
        { "--interface lo --output /tmp --format pcapx", "--format" },
        { "--interface lo --output /tmp --source dpdk", "--source" },
        { "--interface lo --output /tmp --rotate-size 12Q", "--rotate-size" },
        { "--interface lo --output /tmp --snaplen -5", "--snaplen" },
        { "--interface lo --output /tmp --metrics 10.0.0.1:9464", "loopback" },
        { "--interface lo --output /tmp --no-such-option", "no-such-option" },
        { "--output /tmp", "--interface" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_input_is_one_line_and_nonzero(string args, string expect)
    {
        var r = Run.Cmd(TestEnv.Bin("recorder"), args, 30_000);
        Assert.NotEqual(0, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "expected one line on stderr: " + r);
        Assert.Contains(expect, lines[0]);
    }
}
