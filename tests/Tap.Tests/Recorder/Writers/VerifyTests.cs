using System.Buffers.Binary;
using System.Text.Json;
using Tap.Recorder.Capture;
using Tap.Recorder.Verify;
using Xunit;
using static Tap.Tests.Recorder.Writers.Kit;

namespace Tap.Tests.Recorder.Writers;

[Trait("Category", "Unit")]
public sealed class VerifyTests : IDisposable
{
    private readonly string _dir = TempDir("/var/tmp");
    public void Dispose() => Cleanup(_dir);

    private static (int Exit, string Out, string Err) Verify(bool json, params string[] files)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int rc = VerifyCommand.Run(files, json, o, e);
        return (rc, o.ToString(), e.ToString());
    }

    private string Write(CaptureFormat fmt, bool lz4, int n, Action<CaptureWriter>? extra = null)
    {
        var sub = Path.Combine(_dir, Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(sub);
        using var w = new CaptureWriter(Opts(sub, fmt, lz4));
        WriteFrames(w, n, size: i => 200 + i % 300);
        extra?.Invoke(w);
        w.Complete();
        return Outputs(sub).Single();
    }

    [Theory]
    [InlineData(CaptureFormat.Pcap, false)]
    [InlineData(CaptureFormat.Pcapng, false)]
    [InlineData(CaptureFormat.Pcapng, true)]
    public void GoodFile_CountsFramesBytesTimes(CaptureFormat fmt, bool lz4)
    {
        var f = Write(fmt, lz4, 1000);
        var (rc, o, e) = Verify(true, f);
        Assert.True(rc == 0, o + e);
        var j = JsonDocument.Parse(o).RootElement;
        Assert.True(j.GetProperty("ok").GetBoolean());
        var file = j.GetProperty("files")[0];
        Assert.Equal("ok", file.GetProperty("status").GetString());
        Assert.Equal(1000, file.GetProperty("frames").GetInt64());
        Assert.Equal(Enumerable.Range(0, 1000).Sum(i => 200L + i % 300), file.GetProperty("bytes").GetInt64());
        Assert.Equal(WallClock.Iso(T0), file.GetProperty("first").GetString());
        Assert.Equal(WallClock.Iso(T0 + 999_000), file.GetProperty("last").GetString());
        Assert.Equal(1e-6, file.GetProperty("max_gap_seconds").GetDouble(), 9);
        var s = file.GetProperty("streams")[0];
        Assert.Equal(1000, s.GetProperty("frames").GetInt64());
        Assert.Equal(0, s.GetProperty("missing").GetInt64());
        // the text form says ok too, with the counts
        var (rc2, txt, _) = Verify(false, f);
        Assert.Equal(0, rc2);
        Assert.Contains(": ok ", txt);
        Assert.Contains("frames=1000", txt);
    }

    private static byte[] Spead(ushort dport, ulong heap, ulong payOff)
    {
        var f = LabFrame(0, 0, 200, dport: dport);
        var p = f.AsSpan(14 + 20 + 8);
        p.Clear();
        p[0] = 0x53; p[1] = 4; p[2] = 3; p[3] = 5;
        BinaryPrimitives.WriteUInt16BigEndian(p[6..], 2);
        BinaryPrimitives.WriteUInt64BigEndian(p[8..], (1UL << 63) | (1UL << 40) | heap);
        BinaryPrimitives.WriteUInt64BigEndian(p[16..], (1UL << 63) | (3UL << 40) | payOff);
        return f;
    }

    [Fact]
    public void CraftedFile_GapsDuplicatesReorders_PerStream()
    {
        var sub = Path.Combine(_dir, "c"); Directory.CreateDirectory(sub);
        using (var w = new CaptureWriter(Opts(sub, CaptureFormat.Pcap)))
        {
            long t = T0;
            // stream 1: 0 1 2 5 6 6 4 3 7 10  => missing 2 (8, 9), duplicates 1, reordered 2
            foreach (ulong s in new ulong[] { 0, 1, 2, 5, 6, 6, 4, 3, 7, 10 }) { var f = LabFrame(1, s, 100); w.Write(f, f.Length, t += 1000); }
            // stream 2 behind an 802.1Q tag: 100..109 without 105 => missing 1
            for (ulong s = 100; s < 110; s++) if (s != 105) { var f = LabFrame(2, s, 100, vlan: 7); w.Write(f, f.Length, t += 1000); }
            // SPEAD heaps on port 7148: heaps 1,2,(2 second packet),4 => missing 1 (heap 3); heap 2 first packet twice => dup
            foreach (var (h, off) in new (ulong, ulong)[] { (1, 0), (2, 0), (2, 1024), (2, 0), (4, 0) }) { var f = Spead(7148, h, off); w.Write(f, f.Length, t += 1000); }
            w.Write(new byte[60], 60, t + 5_000_000_000); // a non-counter frame, 5 s later
            w.Complete();
        }
        var (rc, o, e) = Verify(true, Outputs(sub).Single());
        Assert.True(rc == 0, o + e);
        var file = JsonDocument.Parse(o).RootElement.GetProperty("files")[0];
        Assert.Equal(25, file.GetProperty("frames").GetInt64());
        Assert.Equal(5.0, file.GetProperty("max_gap_seconds").GetDouble(), 6);
        var st = file.GetProperty("streams").EnumerateArray().ToDictionary(x => x.GetProperty("kind").GetString() + ":" + x.GetProperty("key").GetString());
        Assert.Equal(3, st.Count);
        void Check(string k, long frames, long miss, long dup, long reo)
        {
            Assert.Equal(frames, st[k].GetProperty("frames").GetInt64());
            Assert.Equal(miss, st[k].GetProperty("missing").GetInt64());
            Assert.Equal(dup, st[k].GetProperty("duplicates").GetInt64());
            Assert.Equal(reo, st[k].GetProperty("reordered").GetInt64());
        }
        Check("lab:1", 10, 2, 1, 2);
        Check("lab:2", 9, 1, 0, 0);
        Check("spead:7148/198.18.0.1", 4, 1, 1, 0);
    }

    [Fact]
    public void UsecBigEndianPcap_IsRead()
    {
        var ms = new MemoryStream();
        var h = new byte[24];
        BinaryPrimitives.WriteUInt32BigEndian(h, 0xa1b2c3d4); BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(4), 2); BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(6), 4);
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), 65535); BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 1);
        ms.Write(h);
        for (ulong s = 0; s < 3; s++)
        {
            var f = LabFrame(9, s, 80);
            var r = new byte[16];
            BinaryPrimitives.WriteUInt32BigEndian(r, 1_750_000_000); BinaryPrimitives.WriteUInt32BigEndian(r.AsSpan(4), (uint)(s * 10));
            BinaryPrimitives.WriteUInt32BigEndian(r.AsSpan(8), 80); BinaryPrimitives.WriteUInt32BigEndian(r.AsSpan(12), 80);
            ms.Write(r); ms.Write(f);
        }
        var path = Path.Combine(_dir, "be.pcap");
        File.WriteAllBytes(path, ms.ToArray());
        Assert.Equal(3, TcpdumpCount(path)); // the reference reader agrees the file is sane
        var (rc, o, _) = Verify(true, path);
        Assert.Equal(0, rc);
        var file = JsonDocument.Parse(o).RootElement.GetProperty("files")[0];
        Assert.Equal(3, file.GetProperty("frames").GetInt64());
        Assert.Equal("2025-06-15T15:06:40.000020000Z", file.GetProperty("last").GetString());
    }

    /// <summary>Record (start, end) offsets of the packet records, from the file layout.</summary>
    private static List<(long Start, long End)> Records(byte[] b, CaptureFormat fmt)
    {
        var list = new List<(long, long)>();
        long o = fmt == CaptureFormat.Pcap ? 24 : 0;
        while (o < b.Length)
        {
            if (fmt == CaptureFormat.Pcap) { long e = o + 16 + BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan((int)o + 8)); list.Add((o, e)); o = e; }
            else
            {
                uint type = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan((int)o)), len = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan((int)o + 4));
                if (type == 6) list.Add((o, o + len));
                o += len;
            }
        }
        return list;
    }

    [Theory]
    [InlineData(CaptureFormat.Pcap)]
    [InlineData(CaptureFormat.Pcapng)]
    public void CutAtEveryOffsetOfTheLastTwoRecords_IsReportedWithOffset_AndEarlierFramesCounted(CaptureFormat fmt)
    {
        var full = File.ReadAllBytes(Write(fmt, false, 20));
        var recs = Records(full, fmt);
        Assert.Equal(20, recs.Count);
        var cutPath = Path.Combine(_dir, "cut." + (fmt == CaptureFormat.Pcap ? "pcap" : "pcapng"));
        int checkedCuts = 0;
        for (int k = recs.Count - 2; k < recs.Count; k++)
        {
            for (long c = recs[k].Start + 1; c < recs[k].End; c++)
            {
                File.WriteAllBytes(cutPath, full.AsSpan(0, (int)c).ToArray());
                var (rc, o, e) = Verify(false, cutPath);
                Assert.True(rc == 1, $"cut at {c}: exit {rc}\n{o}{e}");
                Assert.Contains($"truncated record at offset {recs[k].Start}", o + e);
                Assert.DoesNotContain(": ok ", o);
                Assert.Contains($"frames={k} ", o);
                checkedCuts++;
            }
        }
        Assert.True(checkedCuts > 400);
    }

    [Theory]
    [InlineData(CaptureFormat.Pcap)]
    [InlineData(CaptureFormat.Pcapng)]
    public void Lz4CutAtSeveralOffsets_IsReported_AndCompleteFramesCounted(CaptureFormat fmt)
    {
        var path = Write(fmt, true, 3000);
        var full = File.ReadAllBytes(path);
        var cutPath = Path.Combine(_dir, "cut.lz4");
        foreach (long c in new long[] { full.Length - 1, full.Length - 3, full.Length - 4, full.Length - 5, full.Length - 100, full.Length / 2, 200, 11, 6 })
        {
            File.WriteAllBytes(cutPath, full.AsSpan(0, (int)c).ToArray());
            var (rc, o, e) = Verify(true, cutPath);
            Assert.True(rc == 1, $"cut at {c}: exit {rc}\n{o}{e}");
            var file = JsonDocument.Parse(o).RootElement.GetProperty("files")[0];
            Assert.Equal("truncated", file.GetProperty("status").GetString());
            Assert.True(file.GetProperty("error_offset").GetInt64() >= 0);
            Assert.Contains("offset", file.GetProperty("error").GetString());
            // what lz4 itself recovers from the cut stream is what we count
            long frames = file.GetProperty("frames").GetInt64();
            Assert.InRange(frames, 0, 3000);
            if (c >= full.Length - 4) Assert.Equal(3000, frames); // only the end mark is cut
            else Assert.True(frames < 3000 || fmt == CaptureFormat.Pcapng);
        }
    }

    [Theory]
    [InlineData(CaptureFormat.Pcap)]
    [InlineData(CaptureFormat.Pcapng)]
    public void Lz4CutAtEveryByteOffset_NeverOk_AndKeepsTheCompleteFrames(CaptureFormat fmt)
    {
        var full = File.ReadAllBytes(Write(fmt, true, 40));
        var cutPath = Path.Combine(_dir, "every.lz4");
        long lastFrames = 0;
        for (int c = 0; c < full.Length; c++)
        {
            File.WriteAllBytes(cutPath, full.AsSpan(0, c).ToArray());
            var (rc, o, e) = Verify(true, cutPath);
            Assert.True(rc == 1, $"cut at {c} of {full.Length}: exit {rc}\n{o}{e}");
            if (c < 16) continue; // not even an LZ4 frame header: reported as corrupt, no JSON counts to compare
            long frames = JsonDocument.Parse(o).RootElement.GetProperty("files")[0].GetProperty("frames").GetInt64();
            Assert.True(frames >= lastFrames && frames <= 40, $"cut at {c}: {frames} frames after {lastFrames} at a shorter cut");
            lastFrames = frames;
        }
        Assert.Equal(40, lastFrames); // cut only inside the end mark: every frame is still there
    }

    [Fact]
    public void Usage_NoFilesOrMissingFile_Exit2()
    {
        Assert.Equal(2, Verify(false).Exit);
        Assert.Equal(2, Verify(false, Path.Combine(_dir, "none.pcap")).Exit);
        File.WriteAllBytes(Path.Combine(_dir, "junk.pcap"), new byte[100]);
        Assert.Equal(1, Verify(false, Path.Combine(_dir, "junk.pcap")).Exit);
    }

    [Fact]
    public void Fuzz_RandomMutationsOfRealCaptures_AlwaysAVerdict_NoException()
    {
        var seeds = new List<byte[]>
        {
            File.ReadAllBytes(Write(CaptureFormat.Pcap, false, 40)),
            File.ReadAllBytes(Write(CaptureFormat.Pcapng, false, 40)),
            File.ReadAllBytes(Write(CaptureFormat.Pcap, true, 40)),
            File.ReadAllBytes(Write(CaptureFormat.Pcapng, true, 40)),
        };
        var rng = new Random(20250615);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        int bad = 0, iterations = 4000;
        for (int it = 0; it < iterations; it++)
        {
            var b = (byte[])seeds[it % seeds.Count].Clone();
            int kind = rng.Next(4);
            if (kind == 0) { int k = rng.Next(1, 9); for (int i = 0; i < k; i++) b[rng.Next(b.Length)] = (byte)rng.Next(256); }
            else if (kind == 1) b = b.AsSpan(0, rng.Next(b.Length)).ToArray();
            else if (kind == 2) { int p = rng.Next(b.Length); BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(Math.Min(p, b.Length - 4)), (uint)rng.Next()); }
            else { int p = rng.Next(b.Length); var l = b.ToList(); l.InsertRange(p, Enumerable.Range(0, rng.Next(1, 20)).Select(_ => (byte)rng.Next(256))); b = l.ToArray(); }
            CaptureReadResult r;
            long streamsSeen = 0;
            r = CaptureReader.Read(new MemoryStream(b), (in CapturedFrame f) =>
            {
                if (FrameDecoder.TryCounter(f.Data, f.LinkType, out _, out _, out _)) streamsSeen++;
            });
            Assert.NotNull(r);
            if (!r.Ok) { bad++; Assert.True(r.ErrorOffset >= 0); }
            Assert.True(r.Frames >= 0 && r.Frames <= 60);
        }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"fuzz took {sw.Elapsed}");
        Assert.True(bad > iterations / 4, $"only {bad} of {iterations} mutations were flagged");
    }
}
