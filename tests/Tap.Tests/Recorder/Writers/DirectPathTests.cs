using System.Runtime.InteropServices;
using Tap.Recorder.Capture;
using Xunit;
using static Tap.Tests.Recorder.Writers.Kit;

namespace Tap.Tests.Recorder.Writers;

/// <summary>The copy-free write path: the file header in the first block, aligned prefixes written straight from the
/// block, two writes in flight, the pool cap.</summary>
[Trait("Category", "Unit")]
public sealed unsafe class DirectPathTests : IDisposable
{
    private readonly string _dir = TempDir("/var/tmp");
    public void Dispose() => Cleanup(_dir);

    [Theory]
    [InlineData(0, 0, 4 << 20, 4096, 4 << 20, 0)]          // a full block: all direct
    [InlineData(0, 0, (4 << 20) - 24, 4096, (4 << 20) - 4096, 4072)] // last block: aligned prefix direct, tail staged
    [InlineData(0, 0, 100, 4096, 0, 100)]                  // less than one unit: staged
    [InlineData(24, 0, 4 << 20, 4096, 0, 4 << 20)]         // something staged already: all staged (order)
    [InlineData(0, 512, 8192, 4096, 0, 8192)]              // unaligned pointer: staged
    [InlineData(0, 0, 3 * 65536 + 1, 65536, 3 * 65536, 1)]
    public void SplitDirect_TailMath(int staged, int ptr, int len, int align, int direct, int rest)
    {
        Assert.Equal((direct, rest), DirectFile.SplitDirect(staged, (nuint)((1 << 20) + ptr), len, align));
    }

    [Theory]
    [InlineData(32, 4 << 20, 32)]    // the recorder's 128 MiB
    [InlineData(128, 4 << 20, 64)]   // 512 MiB asked: capped at 256 MiB
    [InlineData(16, 64 << 20, 4)]
    [InlineData(8, 512 << 20, 2)]    // never fewer than 2
    public void PoolBlocks_CappedAt256MiB(int asked, int blk, int expect)
    {
        Assert.Equal(expect, CaptureWriter.PoolBlocks(asked, blk));
        Assert.True((long)expect * blk <= CaptureOptions.MaxPoolBytes || expect == 2);
    }

    [Fact]
    public void Pool_IsCapped_InTheWriter()
    {
        using var w = new CaptureWriter(Opts(_dir, CaptureFormat.Pcap, buf: 8 << 20, blocks: 100));
        Assert.Equal(CaptureOptions.MaxPoolBytes, w.PoolBytes);
        w.Complete();
    }

    [Fact]
    public void WriteBlockPair_TwoInFlight_ThenTail_FileIsExactConcatenation()
    {
        int align = DirectFile.DetectAlignment(_dir, out _);
        const int blk = 1 << 20;
        byte* stage = (byte*)NativeMemory.AlignedAlloc(blk, (nuint)align);
        byte* a = (byte*)NativeMemory.AlignedAlloc(blk, (nuint)align), b = (byte*)NativeMemory.AlignedAlloc(blk, (nuint)align);
        byte* c = (byte*)NativeMemory.AlignedAlloc(blk, (nuint)align), d = (byte*)NativeMemory.AlignedAlloc(blk, (nuint)align);
        var rng = new Random(7);
        var expect = new MemoryStream();
        try
        {
            foreach (var p in new[] { (nint)a, (nint)b, (nint)c, (nint)d }) rng.NextBytes(new Span<byte>((byte*)p, blk));
            using var helper = new PairWriter();
            var f = DirectFile.Create(Path.Combine(_dir, "pair.bin"), true, align, stage, blk, null);
            Assert.True(f.Direct);
            f.WriteBlockPair(helper, a, blk, b, blk);               // two full blocks
            f.WriteBlockPair(helper, c, blk, d, blk - 1000);        // full + a last block with an unaligned end
            Assert.Equal(4L * blk - 1000, f.Logical);
            Assert.Equal((blk - 1000) % align, (int)(f.Logical - f.Flushed)); // only the unaligned end is staged
            Assert.True(f.StagedBytes < align, $"staged {f.StagedBytes}");
            f.Finish();
            expect.Write(new ReadOnlySpan<byte>(a, blk)); expect.Write(new ReadOnlySpan<byte>(b, blk));
            expect.Write(new ReadOnlySpan<byte>(c, blk)); expect.Write(new ReadOnlySpan<byte>(d, blk - 1000));
        }
        finally
        {
            foreach (var p in new[] { (nint)stage, (nint)a, (nint)b, (nint)c, (nint)d }) NativeMemory.AlignedFree((void*)p);
        }
        var got = File.ReadAllBytes(Path.Combine(_dir, "pair.bin"));
        Assert.Equal(expect.Length, got.Length);
        Assert.True(expect.ToArray().AsSpan().SequenceEqual(got));
        Assert.False(File.Exists(Path.Combine(_dir, "pair.bin.part")));
    }

    [Theory]
    [InlineData(CaptureFormat.Pcap, false, 24)]
    [InlineData(CaptureFormat.Pcapng, false, -1)]
    [InlineData(CaptureFormat.Pcap, true, -1)]
    [InlineData(CaptureFormat.Pcapng, true, -1)]
    public void NoFrames_FileIsHeaderOnly_AndValid(CaptureFormat fmt, bool lz4, int expectLen)
    {
        using (var w = new CaptureWriter(Opts(_dir, fmt, lz4))) w.Complete();
        var f = Outputs(_dir).Single();
        if (expectLen > 0) Assert.Equal(expectLen, new FileInfo(f).Length);
        Assert.Equal(0, TcpdumpCount(lz4 ? Lz4Decompress(f) : f));
    }

    [Theory]
    [InlineData(CaptureFormat.Pcap)]
    [InlineData(CaptureFormat.Pcapng)]
    public void FullBlocks_AreNotCopied_OnlyTheTailIsStaged(CaptureFormat fmt)
    {
        WriterStats st;
        List<byte[]> frames;
        using (var w = new CaptureWriter(Opts(_dir, fmt, buf: 1 << 20, blocks: 4)))
        {
            frames = WriteFrames(w, 6000, size: _ => 1514);   // ~9 MiB: 9 full blocks and a tail
            w.Complete();
            st = w.Stats;
        }
        Assert.True(st.DirectIo);
        // the tail of the last block (< one alignment unit) and, for pcapng, the ISB: nothing else went through the stage
        Assert.InRange(st.StagedBytes, 1, st.Alignment + 200);
        var pk = TcpdumpPackets(Outputs(_dir).Single());
        Assert.Equal(6000, pk.Count);
        Assert.True(frames[5999].AsSpan().SequenceEqual(pk[5999].Data));
    }

    [Theory]
    [InlineData(CaptureFormat.Pcap, false)]
    [InlineData(CaptureFormat.Pcapng, false)]
    [InlineData(CaptureFormat.Pcapng, true)]
    public void StarvedPoolAcrossRotations_EveryFileValid_EveryKeptFrameInAFile(CaptureFormat fmt, bool lz4)
    {
        // 2 blocks, no pacing, a rotation every 256 KiB: files start while no block is free (the header waits for the
        // next block, or is written at close when the file never got one).
        WriterStats st;
        const int n = 20000;
        using (var w = new CaptureWriter(Opts(_dir, fmt, lz4, rotSize: 256 << 10, blocks: 2)))
        {
            for (int i = 0; i < n; i++) { var f = LabFrame(1, (ulong)i, 1400 + i % 100); w.Write(f, f.Length, T0 + i * 1000L); }
            w.Complete();
            st = w.Stats;
        }
        Assert.Equal(n, st.Frames + st.QueueDrops);
        var files = Outputs(_dir);
        Assert.DoesNotContain(files, f => f.EndsWith(".part"));
        long total = 0;
        foreach (var f in files) total += TcpdumpCount(lz4 ? Lz4Decompress(f) : f);
        Assert.Equal(st.Frames, total);
    }
}
