using System.Buffers.Binary;
using Tap.Recorder.Capture;
using Tap.Recorder.Verify;
using Xunit;
using static Tap.Tests.Recorder.Writers.Kit;

namespace Tap.Tests.Recorder.Writers;

[Trait("Category", "Unit")]
public sealed class CaptureWriterTests : IDisposable
{
    private readonly string _dir = TempDir("/var/tmp"); // on disk (ext4), so O_DIRECT is really used;
    public void Dispose() => Cleanup(_dir);

    [Theory]
    [InlineData(CaptureFormat.Pcap, false)]
    [InlineData(CaptureFormat.Pcapng, false)]
    [InlineData(CaptureFormat.Pcap, true)]
    [InlineData(CaptureFormat.Pcapng, true)]
    public void EveryFrameReadBackByTcpdump_ByteIdentical(CaptureFormat fmt, bool lz4)
    {
        const int n = 3000;
        List<byte[]> frames;
        WriterStats st;
        using (var w = new CaptureWriter(Opts(_dir, fmt, lz4)))
        {
            frames = WriteFrames(w, n);
            w.Complete();
            st = w.Stats;
        }
        Assert.Equal(0, st.QueueDrops);
        Assert.Equal(n, st.Frames);
        var files = Outputs(_dir);
        Assert.Single(files);
        Assert.DoesNotContain(files, f => f.EndsWith(".part"));
        Assert.Equal(files, st.Files.OrderBy(f => f).ToArray());
        string ext = (fmt == CaptureFormat.Pcap ? ".pcap" : ".pcapng") + (lz4 ? ".lz4" : "");
        Assert.EndsWith(ext, files[0]);
        Assert.Equal(new FileInfo(files[0]).Length, st.FileBytesWritten);
        string plain = lz4 ? Lz4Decompress(files[0]) : files[0];
        var pk = TcpdumpPackets(plain);
        Assert.Equal(n, pk.Count);
        for (int i = 0; i < n; i++)
        {
            Assert.True(frames[i].AsSpan().SequenceEqual(pk[i].Data), $"frame {i} differs");
            Assert.Equal(T0 + i * 1000L, TsOf(pk[i].Line));
        }
        // header: ns pcap magic / pcapng SHB
        var head = File.ReadAllBytes(plain).AsSpan(0, 4).ToArray();
        Assert.Equal(fmt == CaptureFormat.Pcap ? 0xa1b23c4du : 0x0A0D0D0Au, BinaryPrimitives.ReadUInt32LittleEndian(head));
    }

    [Fact]
    public void Pcapng_CapinfosAndTsharkRead_WithoutWarnings_AndIsbCountsDrops()
    {
        const int n = 500;
        using (var w = new CaptureWriter(Opts(_dir, CaptureFormat.Pcapng)))
        {
            WriteFrames(w, n);
            w.CountSourceDrops(5);
            w.CountSourceDrops(7); // cumulative
            w.Complete();
        }
        var f = Outputs(_dir).Single();
        var ci = Tool("capinfos", $"-M \"{f}\"");
        Assert.True(ci.ExitCode == 0 && ci.Stderr.Trim().Length == 0, ci.ToString());
        Assert.Contains($"Number of packets:   {n}", ci.Stdout.Replace("Number of packets = ", "Number of packets:   "));
        Assert.Contains("nanoseconds (9)", ci.Stdout);
        Assert.Contains("rec0p", ci.Stdout);
        var ts = Tool("tshark", $"-r \"{f}\" -T fields -e frame.number -e frame.len");
        Assert.True(ts.ExitCode == 0, ts.ToString());
        Assert.True(ts.Stderr.Trim().Length == 0, ts.Stderr);
        Assert.Equal(n, ts.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        // ISB: tshark's interface statistics (-z) or our reader
        var r = CaptureReader.Read(f);
        Assert.True(r.Ok, string.Join(";", r.Errors));
        Assert.Equal(n + 7, r.IsbIfRecv);
        Assert.Equal(7, r.IsbIfDrop);
        Assert.True(ci.Stdout.Contains("Number of stat entries = 1"), ci.Stdout);
    }

    [Theory]
    [InlineData(CaptureFormat.Pcap)]
    [InlineData(CaptureFormat.Pcapng)]
    public void Snaplen_TruncatesButKeepsOrigLength(CaptureFormat fmt)
    {
        using (var w = new CaptureWriter(Opts(_dir, fmt, snap: 128)))
        {
            var f = LabFrame(1, 1, 1000);
            w.Write(f, f.Length, T0);
            var g = LabFrame(1, 2, 100);
            w.Write(g, 1400, T0 + 1); // the source saw a longer frame than it handed over
            w.Complete();
        }
        var pk = TcpdumpPackets(Outputs(_dir).Single());
        Assert.Equal(2, pk.Count);
        Assert.Equal(128, pk[0].Data.Length);
        Assert.Contains("length 1000", pk[0].Line);
        Assert.Equal(100, pk[1].Data.Length);
        Assert.Contains("length 1400", pk[1].Line);
        var r = Tool("tcpdump", $"-r \"{Outputs(_dir).Single()}\" -nn --count");
        Assert.Equal(0, r.ExitCode);
    }

    [Theory]
    [InlineData(CaptureFormat.Pcap, false)]
    [InlineData(CaptureFormat.Pcapng, false)]
    [InlineData(CaptureFormat.Pcapng, true)]
    public void RotationBySize_NoFrameLost_NamesSortByTime(CaptureFormat fmt, bool lz4)
    {
        const int n = 6000;
        const long rot = 1 << 20;
        using (var w = new CaptureWriter(Opts(_dir, fmt, lz4, rotSize: rot)))
        {
            WriteFrames(w, n, stepNs: 1_000_000); // 1 ms apart so file stamps differ
            w.Complete();
            Assert.Equal(0, w.Stats.QueueDrops);
            Assert.Equal(Outputs(_dir), w.Stats.Files.ToArray());   // completion order == name order
        }
        var files = Outputs(_dir);
        Assert.True(files.Length >= 5, $"expected several files, got {files.Length}");
        var re = new System.Text.RegularExpressions.Regex(@"^capture-\d{8}T\d{6}\.\d{3}Z-\d{4}\.pcap(ng)?(\.lz4)?$");
        long total = 0; ulong expectSeq = 0; long lastTs = 0;
        foreach (var f in files)
        {
            Assert.Matches(re, Path.GetFileName(f));
            string plain = lz4 ? Lz4Decompress(f) : f;
            if (!lz4) Assert.True(new FileInfo(f).Length <= rot + 200, $"{f} is {new FileInfo(f).Length} bytes");
            var pk = TcpdumpPackets(plain);
            Assert.NotEmpty(pk);
            foreach (var p in pk)
            {
                ulong seq = BinaryPrimitives.ReadUInt64BigEndian(p.Data.AsSpan(14 + 20 + 8 + 8));
                Assert.Equal(expectSeq++, seq);  // continuity across files: the overflowing frame starts the next file
                long ts = TsOf(p.Line);
                Assert.True(ts > lastTs); lastTs = ts;
            }
            total += pk.Count;
        }
        Assert.Equal(n, total);
    }

    [Fact]
    public void RotationBySeconds_UsesFrameTime()
    {
        using (var w = new CaptureWriter(Opts(_dir, CaptureFormat.Pcap, rotSec: 1)))
        {
            WriteFrames(w, 50, stepNs: 100_000_000); // 5 s of frames
            w.Complete();
        }
        var files = Outputs(_dir);
        Assert.InRange(files.Length, 5, 6);
        Assert.Equal(50, files.Sum(f => TcpdumpCount(f)));
        Assert.All(files.Skip(1).SkipLast(1), f => Assert.Equal(10, TcpdumpCount(f)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(777)]
    [InlineData(4093)]
    public void Tail_FileEndsAtTrueLength_NotPadded(int frames)
    {
        long expect = 24;
        using (var w = new CaptureWriter(Opts(_dir, CaptureFormat.Pcap)))
        {
            for (int i = 0; i < frames; i++)
            {
                var f = LabFrame(2, (ulong)i, 61 + i % 900);
                expect += 16 + f.Length;
                Paced(w);
                w.Write(f, f.Length, T0 + i);
            }
            w.Complete();
            w.Complete(); // idempotent
            Assert.True(w.Alignment >= 4096 && (w.Alignment & (w.Alignment - 1)) == 0);
        }
        var file = Outputs(_dir).Single();
        Assert.NotEqual(0, expect % 4096);
        Assert.Equal(expect, new FileInfo(file).Length);
        Assert.Equal(frames, TcpdumpCount(file));
    }

    [Fact]
    public void DirectIo_OnDiskFilesystem()
    {
        using var w = new CaptureWriter(Opts(_dir, CaptureFormat.Pcap));
        WriteFrames(w, 10);
        w.Complete();
        Assert.True(w.Stats.DirectIo, "O_DIRECT should be accepted on " + _dir);
    }

    [Fact]
    public void Tmpfs_WritesValidCapture_FallingBackWhenODirectRefused()
    {
        Assert.True(Directory.Exists("/dev/shm"), "/dev/shm missing");
        var dir = TempDir("/dev/shm");
        try
        {
            // Does this kernel's tmpfs refuse O_DIRECT? (it does before 6.6)
            string probe = Path.Combine(dir, "probe");
            int fd = Tap.Interop.Libc.Open(probe, Tap.Interop.Libc.O_WRONLY | Tap.Interop.Libc.O_CREAT | Tap.Interop.Libc.ODirect, 0x1a4);
            bool refused = fd < 0;
            if (fd >= 0) Tap.Interop.Libc.Close(fd);
            File.Delete(probe);
            var notices = new List<string>();
            using (var w = new CaptureWriter(Opts(dir, CaptureFormat.Pcapng), notices.Add))
            {
                WriteFrames(w, 1234);
                w.Complete();
                Assert.Equal(!refused && w.Stats.DirectIo, w.Stats.DirectIo);
                if (refused) { Assert.False(w.Stats.DirectIo); Assert.Single(notices); Assert.Contains("O_DIRECT", notices[0]); }
                if (!w.Stats.DirectIo) Assert.Single(notices, s => s.Contains("O_DIRECT"));
            }
            Assert.Equal(1234, TcpdumpCount(Outputs(dir).Single()));
        }
        finally { Cleanup(dir); }
    }

    [Fact]
    public void Timestamp_Before2000_IsReplacedByWallClock_AndCounted()
    {
        long before = WallClock.NowNs();
        using (var w = new CaptureWriter(Opts(_dir, CaptureFormat.Pcap)))
        {
            var f = LabFrame(1, 0, 100);
            w.Write(f, f.Length, 123_456_789); // a monotonic stamp: 1970
            w.Write(f, f.Length, T0);
            w.Complete();
            Assert.Equal(1, w.Stats.BadTimestamps);
        }
        var pk = TcpdumpPackets(Outputs(_dir).Single());
        Assert.InRange(TsOf(pk[0].Line), before - 1_000_000_000L, WallClock.NowNs());
        Assert.Equal(T0, TsOf(pk[1].Line));
    }

    [Fact]
    public void NoFreeBlock_DropsAndCounts_NeverBlocks()
    {
        // 2 blocks of 1 MiB and a burst of 64 MiB: the capture thread must not wait; what it could not keep is counted.
        long n = 0;
        WriterStats st;
        using (var w = new CaptureWriter(Opts(_dir, CaptureFormat.Pcap, blocks: 2)))
        {
            var f = LabFrame(1, 0, 8000);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            for (; n < 8192; n++) w.Write(f, f.Length, T0 + n);
            w.Complete();
            st = w.Stats;
        }
        Assert.Equal(n, st.Frames + st.QueueDrops);
        Assert.Equal(st.Frames, TcpdumpCount(Outputs(_dir).Single()));
    }

    [Fact]
    public void MissingOutputDirectory_Throws()
    {
        Assert.Throws<DirectoryNotFoundException>(() => new CaptureWriter(Opts(Path.Combine(_dir, "nope"), CaptureFormat.Pcap)));
    }
}
