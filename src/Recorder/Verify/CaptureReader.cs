using System.Buffers.Binary;

namespace Tap.Recorder.Verify;

/// <summary>One frame as read from a capture.</summary>
public readonly ref struct CapturedFrame
{
    public ReadOnlySpan<byte> Data { get; init; }
    public int OrigLen { get; init; }
    public long TimestampNs { get; init; }
    public int LinkType { get; init; }
}

public delegate void FrameHandler(in CapturedFrame f);

/// <summary>What a read of one file found. Ok only when the whole file was read to a clean end.</summary>
public sealed class CaptureReadResult
{
    public string Format { get; set; } = "unknown";
    public bool Compressed { get; set; }
    public long Frames { get; set; }
    public long Bytes { get; set; }
    public long OrigBytes { get; set; }
    public long FirstNs { get; set; } = long.MinValue;
    public long LastNs { get; set; } = long.MinValue;
    public long MaxGapNs { get; set; }
    public long? IsbIfRecv { get; set; }
    public long? IsbIfDrop { get; set; }
    public List<string> Errors { get; } = new();
    /// <summary>Byte offset (in the capture stream; after decompression for .lz4) of the first problem, or -1.</summary>
    public long ErrorOffset { get; set; } = -1;
    public bool Truncated { get; set; }
    public bool Ok => Errors.Count == 0;

    internal void Frame(long ns, int caplen, int orig)
    {
        Frames++; Bytes += caplen; OrigBytes += orig;
        if (FirstNs == long.MinValue) FirstNs = ns;
        else if (LastNs != long.MinValue && ns - LastNs > MaxGapNs) MaxGapNs = ns - LastNs;
        LastNs = ns;
    }
}

/// <summary>Reads pcap (usec/nsec magic, either byte order), pcapng (either byte order) and LZ4 frames of either;
/// stops at the first damage and says where. Never throws for bad input.</summary>
public static class CaptureReader
{
    private const int MaxRecord = 64 << 20;

    public static CaptureReadResult Read(string path, FrameHandler? onFrame = null)
    {
        var r = new CaptureReadResult();
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
            return Read(fs, onFrame);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            r.Errors.Add($"cannot read: {e.Message}");
            return r;
        }
    }

    public static CaptureReadResult Read(Stream input, FrameHandler? onFrame = null)
    {
        var r = new CaptureReadResult();
        var head = new byte[4];
        using var outer = new Src(input);
        var src = outer;
        int n = src.Peek4(head);
        Lz4DecodeStream? lz = null;
        Src? inner = null;
        if (n == 4 && Lz4DecodeStream.LooksLikeLz4(head))
        {
            r.Compressed = true;
            lz = new Lz4DecodeStream(src.AsStream());
            src = new Src(lz);
            inner = src;
            n = src.Peek4(head);
        }
        try
        {
            if (n == 0)
            {
                if (lz?.Error == null) { r.Errors.Add("empty file"); r.ErrorOffset = 0; r.Truncated = true; }
            }
            else if (n < 4) Fail(r, "truncated file header at offset 0", 0, true);
            else
            {
                uint m = BinaryPrimitives.ReadUInt32LittleEndian(head);
                if (m is 0xa1b2c3d4 or 0xa1b23c4d or 0xd4c3b2a1 or 0x4d3cb2a1) ReadPcap(src, r, onFrame);
                else if (m == 0x0A0D0D0A) ReadPcapng(src, r, onFrame);
                else Fail(r, $"not a pcap or pcapng file (magic 0x{m:x8}) at offset 0", 0, false);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Fail(r, $"reader error at offset {src.Pos}: {e.GetType().Name}: {e.Message}", src.Pos, false);
        }
        if (lz?.Error != null)
        {
            r.Errors.Add(lz.Error + $" (after {src.Pos} decompressed bytes)");
            r.Truncated |= lz.Truncated;
            if (r.ErrorOffset < 0) r.ErrorOffset = src.Pos;
        }
        r.Format += r.Compressed ? ".lz4" : "";
        inner?.Dispose();
        lz?.Dispose();
        return r;
    }

    private static void Fail(CaptureReadResult r, string msg, long off, bool truncated)
    {
        r.Errors.Add(msg);
        if (r.ErrorOffset < 0) r.ErrorOffset = off;
        r.Truncated |= truncated;
    }

    private static void ReadPcap(Src s, CaptureReadResult r, FrameHandler? onFrame)
    {
        var hdr = new byte[24];
        if (s.ReadFull(hdr) < 24) { Fail(r, "truncated file header at offset 0", 0, true); return; }
        uint m = BinaryPrimitives.ReadUInt32LittleEndian(hdr);
        bool swap = m is 0xd4c3b2a1 or 0x4d3cb2a1;
        bool nano = m is 0xa1b23c4d or 0x4d3cb2a1;
        r.Format = nano ? "pcap-ns" : "pcap";
        uint U32(ReadOnlySpan<byte> b) => swap ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);
        uint snap = U32(hdr.AsSpan(16));
        int link = (int)(U32(hdr.AsSpan(20)) & 0x0FFFFFFF);
        long limit = Math.Max(snap, 262144u);
        var rh = new byte[16];
        var buf = new byte[1 << 16];
        while (true)
        {
            long off = s.Pos;
            int got = s.ReadFull(rh);
            if (got == 0) return;
            if (got < 16) { Fail(r, $"truncated record at offset {off} (record header: {got} of 16 bytes)", off, true); return; }
            uint sec = U32(rh), frac = U32(rh.AsSpan(4)), incl = U32(rh.AsSpan(8)), orig = U32(rh.AsSpan(12));
            if (incl > limit || incl > MaxRecord) { Fail(r, $"corrupt record at offset {off}: captured length {incl} exceeds {limit}", off, false); return; }
            if (buf.Length < incl) buf = new byte[incl];
            int dg = s.ReadFull(buf.AsSpan(0, (int)incl));
            if (dg < incl) { Fail(r, $"truncated record at offset {off} (frame: {dg} of {incl} bytes)", off, true); return; }
            long ns = sec * 1_000_000_000L + (nano ? frac : frac * 1000L);
            r.Frame(ns, (int)incl, (int)Math.Min(orig, int.MaxValue));
            onFrame?.Invoke(new CapturedFrame { Data = buf.AsSpan(0, (int)incl), OrigLen = (int)Math.Min(orig, int.MaxValue), TimestampNs = ns, LinkType = link });
        }
    }

    private sealed class Iface { public int Link; public uint Snap; public long UnitsPerSec = 1_000_000; }

    private static void ReadPcapng(Src s, CaptureReadResult r, FrameHandler? onFrame)
    {
        r.Format = "pcapng";
        bool big = false, sawShb = false;
        var ifaces = new List<Iface>();
        var head = new byte[12];
        var body = new byte[1 << 16];
        while (true)
        {
            long off = s.Pos;
            int got = s.ReadFull(head.AsSpan(0, 8));
            if (got == 0) { if (!sawShb) Fail(r, "no section header", 0, true); return; }
            if (got < 8) { Fail(r, $"truncated record at offset {off} (block header: {got} of 8 bytes)", off, true); return; }
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(head);
            if (type == 0x0A0D0D0A)
            {
                if (s.ReadFull(head.AsSpan(8, 4)) < 4) { Fail(r, $"truncated record at offset {off} (section header)", off, true); return; }
                uint bom = BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(8));
                if (bom == 0x1A2B3C4D) big = false;
                else if (bom == 0x4D3C2B1A) big = true;
                else { Fail(r, $"corrupt section header at offset {off}: byte-order magic 0x{bom:x8}", off, false); return; }
                sawShb = true; ifaces.Clear();
            }
            else if (!sawShb) { Fail(r, $"corrupt file at offset {off}: first block is not a section header", off, false); return; }
            uint U32(ReadOnlySpan<byte> b) => big ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);
            ushort U16(ReadOnlySpan<byte> b) => big ? BinaryPrimitives.ReadUInt16BigEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b);
            if (type != 0x0A0D0D0A) type = U32(head);
            uint len = U32(head.AsSpan(4));
            int already = type == 0x0A0D0D0A ? 12 : 8;
            if (len < 12 || len % 4 != 0 || len > MaxRecord || len < already + 4)
            { Fail(r, $"corrupt block at offset {off}: total length {len}", off, false); return; }
            int rest = (int)len - already;
            if (body.Length < len) body = new byte[len];
            head.AsSpan(0, already).CopyTo(body);
            int bg = s.ReadFull(body.AsSpan(already, rest));
            if (bg < rest) { Fail(r, $"truncated record at offset {off} (block of {len} bytes, {already + bg} present)", off, true); return; }
            var blk = body.AsSpan(0, (int)len);
            if (U32(blk[^4..]) != len) { Fail(r, $"corrupt block at offset {off}: trailing length {U32(blk[^4..])} != {len}", off, false); return; }
            var b = blk[8..^4];
            switch (type)
            {
                case 1: // IDB
                {
                    if (b.Length < 8) { Fail(r, $"corrupt interface block at offset {off}", off, false); return; }
                    var ifc = new Iface { Link = U16(b), Snap = U32(b[4..]) };
                    foreach (var (code, val) in Options(b[8..], U16))
                        if (code == 9 && val.Length >= 1)
                        {
                            int v = val[0];
                            if ((v & 0x80) != 0) ifc.UnitsPerSec = (v & 0x7f) < 63 ? 1L << (v & 0x7f) : 0;
                            else ifc.UnitsPerSec = v <= 18 ? (long)Math.Pow(10, v) : 0;
                            if (ifc.UnitsPerSec == 0) { Fail(r, $"corrupt if_tsresol at offset {off}", off, false); return; }
                        }
                    ifaces.Add(ifc);
                    break;
                }
                case 6: // EPB
                case 2: // obsolete packet block
                {
                    if (b.Length < 20) { Fail(r, $"corrupt packet block at offset {off}", off, false); return; }
                    int ifid = type == 6 ? (int)U32(b) : U16(b);
                    uint hi = U32(b[4..]), lo = U32(b[8..]), cap = U32(b[12..]), orig = U32(b[16..]);
                    if (ifid >= ifaces.Count) { Fail(r, $"corrupt packet block at offset {off}: interface {ifid} not defined", off, false); return; }
                    if (cap > b.Length - 20) { Fail(r, $"corrupt packet block at offset {off}: captured length {cap} exceeds block", off, false); return; }
                    var ifc = ifaces[ifid];
                    ulong ts = ((ulong)hi << 32) | lo;
                    long ns = (long)((UInt128)ts * 1_000_000_000UL / (ulong)ifc.UnitsPerSec);
                    r.Frame(ns, (int)cap, (int)Math.Min(orig, int.MaxValue));
                    onFrame?.Invoke(new CapturedFrame { Data = b.Slice(20, (int)cap), OrigLen = (int)Math.Min(orig, int.MaxValue), TimestampNs = ns, LinkType = ifc.Link });
                    break;
                }
                case 3: // SPB
                {
                    if (b.Length < 4 || ifaces.Count == 0) { Fail(r, $"corrupt simple packet block at offset {off}", off, false); return; }
                    uint orig = U32(b);
                    int cap = (int)Math.Min(Math.Min(orig, ifaces[0].Snap == 0 ? uint.MaxValue : ifaces[0].Snap), (uint)(b.Length - 4));
                    r.Frame(r.LastNs == long.MinValue ? 0 : r.LastNs, cap, (int)Math.Min(orig, int.MaxValue));
                    onFrame?.Invoke(new CapturedFrame { Data = b.Slice(4, cap), OrigLen = (int)Math.Min(orig, int.MaxValue), TimestampNs = r.LastNs, LinkType = ifaces[0].Link });
                    break;
                }
                case 5: // ISB
                    if (b.Length >= 12)
                        foreach (var (code, val) in Options(b[12..], U16))
                        {
                            if (code == 4 && val.Length == 8) r.IsbIfRecv = (long)(big ? BinaryPrimitives.ReadUInt64BigEndian(val) : BinaryPrimitives.ReadUInt64LittleEndian(val));
                            if (code == 5 && val.Length == 8) r.IsbIfDrop = (long)(big ? BinaryPrimitives.ReadUInt64BigEndian(val) : BinaryPrimitives.ReadUInt64LittleEndian(val));
                        }
                    break;
            }
        }
    }

    private static List<(int code, byte[] val)> Options(ReadOnlySpan<byte> b, Func<ReadOnlySpan<byte>, ushort> u16)
    {
        var list = new List<(int, byte[])>();
        while (b.Length >= 4)
        {
            int code = u16(b), len = u16(b[2..]);
            if (code == 0) break;
            int padded = (len + 3) & ~3;
            if (4 + padded > b.Length) break;
            list.Add((code, b.Slice(4, len).ToArray()));
            b = b[(4 + padded)..];
        }
        return list;
    }

    /// <summary>Buffered reading with an absolute position and a 4-byte peek.</summary>
    private sealed class Src(Stream s) : IDisposable
    {
        private byte[] _buf = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
        public void Dispose() { if (_buf.Length > 0) System.Buffers.ArrayPool<byte>.Shared.Return(_buf); _buf = Array.Empty<byte>(); }
        private int _pos, _len;
        private bool _eof;
        public long Pos { get; private set; }

        public int Peek4(Span<byte> dst)
        {
            while (_len - _pos < 4 && !_eof) Fill();
            int n = Math.Min(4, _len - _pos);
            _buf.AsSpan(_pos, n).CopyTo(dst);
            return n;
        }

        private void Fill()
        {
            if (_pos > 0) { Array.Copy(_buf, _pos, _buf, 0, _len - _pos); _len -= _pos; _pos = 0; }
            int n = s.Read(_buf, _len, _buf.Length - _len);
            if (n <= 0) _eof = true; else _len += n;
        }

        public int ReadFull(Span<byte> dst)
        {
            int got = 0;
            while (got < dst.Length)
            {
                if (_pos == _len) { if (_eof) break; Fill(); continue; }
                int n = Math.Min(dst.Length - got, _len - _pos);
                _buf.AsSpan(_pos, n).CopyTo(dst[got..]);
                _pos += n; got += n;
            }
            Pos += got;
            return got;
        }

        /// <summary>The rest of the input as a stream (used to hand the bytes to the LZ4 decoder).</summary>
        public Stream AsStream() => new RestStream(this);

        private sealed class RestStream(Src src) : Stream
        {
            public override int Read(byte[] buffer, int offset, int count) => src.ReadFull(buffer.AsSpan(offset, count));
            public override int Read(Span<byte> buffer) => src.ReadFull(buffer);
            public override bool CanRead => true; public override bool CanSeek => false; public override bool CanWrite => false;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => src.Pos; set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override long Seek(long o, SeekOrigin so) => throw new NotSupportedException();
            public override void SetLength(long v) => throw new NotSupportedException();
            public override void Write(byte[] b, int o, int c) => throw new NotSupportedException();
        }
    }
}
