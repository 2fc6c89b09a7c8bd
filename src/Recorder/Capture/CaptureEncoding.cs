using System.Buffers.Binary;
using System.Text;

namespace Tap.Recorder.Capture;

/// <summary>Byte layouts of nanosecond pcap and pcapng, written little-endian (host order on x86/arm64).</summary>
public static class CaptureEncoding
{
    public const uint PcapMagicNs = 0xa1b23c4d;
    public const uint PcapMagicUs = 0xa1b2c3d4;
    public const uint ShbType = 0x0A0D0D0A, IdbType = 1, EpbType = 6, IsbType = 5, SpbType = 3;
    public const uint ByteOrderMagic = 0x1A2B3C4D;
    public const int PcapRecordHeader = 16;
    public const int EpbOverhead = 32;

    public static int Pad4(int n) => (n + 3) & ~3;

    public static int RecordLength(CaptureFormat f, int caplen) =>
        f == CaptureFormat.Pcap ? PcapRecordHeader + caplen : EpbOverhead + Pad4(caplen);

    public static byte[] FileHeader(CaptureFormat f, int snaplen, int linkType, string ifName)
    {
        if (f == CaptureFormat.Pcap)
        {
            var h = new byte[24];
            BinaryPrimitives.WriteUInt32LittleEndian(h, PcapMagicNs);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(4), 2);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(6), 4);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(16), (uint)snaplen);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(20), (uint)linkType);
            return h;
        }
        var ms = new MemoryStream();
        // SHB
        var shbOpts = Options((4, Encoding.UTF8.GetBytes("tap recorder")));
        Block(ms, ShbType, w =>
        {
            w.Write(ByteOrderMagic); w.Write((ushort)1); w.Write((ushort)0); w.Write(-1L); w.Write(shbOpts);
        });
        var idbOpts = Options((2, Encoding.UTF8.GetBytes(ifName)), (9, new byte[] { 9 }));
        Block(ms, IdbType, w =>
        {
            w.Write((ushort)linkType); w.Write((ushort)0); w.Write((uint)snaplen); w.Write(idbOpts);
        });
        return ms.ToArray();
    }

    /// <summary>Interface statistics block for interface 0 (timestamps in ns, as if_tsresol=9).</summary>
    public static byte[] Isb(long nowNs, long startNs, long endNs, long ifRecv, long ifDrop)
    {
        var ms = new MemoryStream(80);
        static byte[] Ts(long ns) { var b = new byte[8]; BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)((ulong)ns >> 32)); BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), (uint)ns); return b; }
        static byte[] U64(long v) { var b = new byte[8]; BinaryPrimitives.WriteInt64LittleEndian(b, v); return b; }
        var opts = Options((2, Ts(startNs)), (3, Ts(endNs)), (4, U64(ifRecv)), (5, U64(ifDrop)));
        Block(ms, IsbType, w =>
        {
            w.Write(0u); w.Write((uint)((ulong)nowNs >> 32)); w.Write((uint)nowNs); w.Write(opts);
        });
        return ms.ToArray();
    }

    private static byte[] Options(params (ushort code, byte[] val)[] opts)
    {
        var ms = new MemoryStream();
        var w = new BinaryWriter(ms);
        foreach (var (code, val) in opts)
        {
            w.Write(code); w.Write((ushort)val.Length); w.Write(val);
            for (int i = val.Length; i < Pad4(val.Length); i++) w.Write((byte)0);
        }
        w.Write(0u); // opt_endofopt
        return ms.ToArray();
    }

    private static void Block(MemoryStream ms, uint type, Action<BinaryWriter> body)
    {
        var inner = new MemoryStream();
        var bw = new BinaryWriter(inner);
        body(bw);
        bw.Flush();
        int total = 12 + (int)inner.Length;
        var w = new BinaryWriter(ms);
        w.Write(type); w.Write((uint)total); w.Write(inner.ToArray()); w.Write((uint)total);
        w.Flush();
    }

    /// <summary>Record header before the frame bytes (pcap: 16 bytes; pcapng EPB: 28 bytes).</summary>
    public static int RecordHeader(CaptureFormat f, Span<byte> dst, long tsNs, int caplen, int origLen)
    {
        if (f == CaptureFormat.Pcap)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(dst, (uint)(tsNs / 1_000_000_000L));
            BinaryPrimitives.WriteUInt32LittleEndian(dst[4..], (uint)(tsNs % 1_000_000_000L));
            BinaryPrimitives.WriteUInt32LittleEndian(dst[8..], (uint)caplen);
            BinaryPrimitives.WriteUInt32LittleEndian(dst[12..], (uint)origLen);
            return 16;
        }
        int total = EpbOverhead + Pad4(caplen);
        BinaryPrimitives.WriteUInt32LittleEndian(dst, EpbType);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[4..], (uint)total);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[8..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[12..], (uint)((ulong)tsNs >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(dst[16..], (uint)tsNs);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[20..], (uint)caplen);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[24..], (uint)origLen);
        return 28;
    }

    /// <summary>Bytes after the frame: pcapng padding plus the repeated total length (none for pcap).</summary>
    public static int RecordTrailer(CaptureFormat f, Span<byte> dst, int caplen)
    {
        if (f == CaptureFormat.Pcap) return 0;
        int pad = Pad4(caplen) - caplen;
        dst[..pad].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(dst[pad..], (uint)(EpbOverhead + Pad4(caplen)));
        return pad + 4;
    }
}

/// <summary>Minimal LZ4 frame writer pieces (independent blocks, 4 MiB max block, no checksums).</summary>
public static class Lz4Frame
{
    public const uint Magic = 0x184D2204;
    public const int MaxBlock = 4 << 20;

    public static byte[] Header()
    {
        var h = new byte[7];
        BinaryPrimitives.WriteUInt32LittleEndian(h, Magic);
        h[4] = 0x60;            // version 01, block independence
        h[5] = 0x70;            // block max size 4 MB
        h[6] = (byte)((K4os.Hash.xxHash.XXH32.DigestOf(h.AsSpan(4, 2)) >> 8) & 0xFF);
        return h;
    }
}
