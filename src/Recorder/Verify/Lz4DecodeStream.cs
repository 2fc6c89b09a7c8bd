using System.Buffers.Binary;
using K4os.Compression.LZ4;
using K4os.Hash.xxHash;

namespace Tap.Recorder.Verify;

/// <summary>
/// A forgiving LZ4 frame decoder for verification: yields everything up to the last complete block, then stops and
/// records why (truncated stream, corrupt block, checksum mismatch) with the compressed byte offset.
/// Handles independent and linked blocks, block and content checksums, content size, dictionary id, skippable
/// frames and concatenated frames. Never throws for bad input.
/// </summary>
public sealed class Lz4DecodeStream : Stream
{
    private readonly Stream _in;
    private long _inPos;
    private byte[] _out = Array.Empty<byte>();
    private int _outPos, _outLen;
    private byte[] _src = Array.Empty<byte>();
    private readonly byte[] _dict = new byte[64 << 10];
    private int _dictLen;
    private bool _inFrame, _done;
    private bool _indep, _blockSum, _contentSum;
    private int _blockMax;
    private XXH32? _hash;
    private long _decoded;

    public string? Error { get; private set; }
    public long ErrorOffset { get; private set; } = -1;
    public bool Truncated { get; private set; }
    public long CompressedPosition => _inPos;

    public Lz4DecodeStream(Stream input) => _in = input;

    public static bool LooksLikeLz4(ReadOnlySpan<byte> first4) =>
        first4.Length >= 4 && (BinaryPrimitives.ReadUInt32LittleEndian(first4) == 0x184D2204 ||
                               (BinaryPrimitives.ReadUInt32LittleEndian(first4) & 0xFFFFFFF0) == 0x184D2A50);

    private int ReadIn(Span<byte> dst)
    {
        int got = 0;
        while (got < dst.Length) { int n = _in.Read(dst[got..]); if (n <= 0) break; got += n; }
        _inPos += got;
        return got;
    }

    private bool Fail(string msg, long off, bool truncated)
    {
        Error = msg; ErrorOffset = off; Truncated = truncated; _done = true; return false;
    }

    private bool ReadFrameHeader()
    {
        Span<byte> b = stackalloc byte[8];
        while (true)
        {
            long at = _inPos;
            int n = ReadIn(b[..4]);
            if (n == 0 && at > 0) { _done = true; return false; } // clean end after a complete frame
            if (n < 4) return Fail($"truncated LZ4 stream at offset {at} (frame header)", at, true);
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(b);
            if ((magic & 0xFFFFFFF0) == 0x184D2A50)
            {
                if (ReadIn(b[..4]) < 4) return Fail($"truncated LZ4 stream at offset {at} (skippable frame)", at, true);
                uint skip = BinaryPrimitives.ReadUInt32LittleEndian(b);
                var tmp = new byte[Math.Min(skip, 65536u)];
                long left = skip;
                while (left > 0) { int r = ReadIn(tmp.AsSpan(0, (int)Math.Min(left, tmp.Length))); if (r == 0) return Fail($"truncated LZ4 stream at offset {_inPos} (skippable frame)", _inPos, true); left -= r; }
                continue;
            }
            if (magic != 0x184D2204) return Fail($"not an LZ4 frame at offset {at} (magic 0x{magic:x8})", at, false);
            if (ReadIn(b[..2]) < 2) return Fail($"truncated LZ4 stream at offset {at} (frame descriptor)", at, true);
            byte flg = b[0], bd = b[1];
            if ((flg >> 6) != 1) return Fail($"LZ4 frame at offset {at}: unsupported version", at, false);
            int extra = ((flg & 0x08) != 0 ? 8 : 0) + ((flg & 0x01) != 0 ? 4 : 0);
            var desc = new byte[2 + extra + 1];
            desc[0] = flg; desc[1] = bd;
            if (ReadIn(desc.AsSpan(2, extra + 1)) < extra + 1) return Fail($"truncated LZ4 stream at offset {at} (frame descriptor)", at, true);
            byte hc = (byte)((XXH32.DigestOf(desc.AsSpan(0, 2 + extra)) >> 8) & 0xFF);
            if (hc != desc[^1]) return Fail($"LZ4 frame at offset {at}: header checksum mismatch", at, false);
            int bsid = (bd >> 4) & 7;
            if (bsid < 4) return Fail($"LZ4 frame at offset {at}: bad block size id", at, false);
            _blockMax = 1 << (8 + 2 * bsid);
            _indep = (flg & 0x20) != 0; _blockSum = (flg & 0x10) != 0; _contentSum = (flg & 0x04) != 0;
            _hash = _contentSum ? new XXH32() : null;
            if (_out.Length < _blockMax)
            {
                ReturnBuffers();
                _out = System.Buffers.ArrayPool<byte>.Shared.Rent(_blockMax);
                _src = System.Buffers.ArrayPool<byte>.Shared.Rent(_blockMax);
            }
            _dictLen = 0; _inFrame = true;
            return true;
        }
    }

    private bool NextBlock()
    {
        Span<byte> b = stackalloc byte[4];
        while (!_done)
        {
            if (!_inFrame && !ReadFrameHeader()) return false;
            long at = _inPos;
            if (ReadIn(b) < 4) return Fail($"truncated LZ4 stream at offset {at} (block header)", at, true);
            uint sz = BinaryPrimitives.ReadUInt32LittleEndian(b);
            if (sz == 0)
            {
                if (_contentSum)
                {
                    if (ReadIn(b) < 4) return Fail($"truncated LZ4 stream at offset {at} (content checksum)", at, true);
                    if (BinaryPrimitives.ReadUInt32LittleEndian(b) != _hash!.Digest()) return Fail($"LZ4 content checksum mismatch at offset {at}", at, false);
                }
                _inFrame = false;
                continue;
            }
            bool raw = (sz & 0x8000_0000u) != 0;
            int len = (int)(sz & 0x7FFF_FFFF);
            if (len > _blockMax) return Fail($"corrupt LZ4 block at offset {at} (size {len} > max {_blockMax})", at, false);
            if (ReadIn(_src.AsSpan(0, len)) < len) return Fail($"truncated LZ4 stream at offset {at} (block of {len} bytes)", at, true);
            if (_blockSum)
            {
                if (ReadIn(b) < 4) return Fail($"truncated LZ4 stream at offset {at} (block checksum)", at, true);
                if (BinaryPrimitives.ReadUInt32LittleEndian(b) != XXH32.DigestOf(_src.AsSpan(0, len))) return Fail($"LZ4 block checksum mismatch at offset {at}", at, false);
            }
            int outLen;
            if (raw) { _src.AsSpan(0, len).CopyTo(_out); outLen = len; }
            else
            {
                outLen = _indep || _dictLen == 0
                    ? LZ4Codec.Decode(_src.AsSpan(0, len), _out.AsSpan(0, _blockMax))
                    : LZ4Codec.Decode(_src.AsSpan(0, len), _out.AsSpan(0, _blockMax), _dict.AsSpan(0, _dictLen));
                if (outLen < 0) return Fail($"corrupt LZ4 block at offset {at}", at, false);
            }
            _hash?.Update(_out.AsSpan(0, outLen));
            if (!_indep) UpdateDict(_out.AsSpan(0, outLen));
            _outPos = 0; _outLen = outLen; _decoded += outLen;
            if (outLen > 0) return true;
        }
        return false;
    }

    private void UpdateDict(ReadOnlySpan<byte> data)
    {
        if (data.Length >= _dict.Length) { data[^_dict.Length..].CopyTo(_dict); _dictLen = _dict.Length; return; }
        int keep = Math.Min(_dictLen, _dict.Length - data.Length);
        _dict.AsSpan(_dictLen - keep, keep).CopyTo(_dict);
        data.CopyTo(_dict.AsSpan(keep));
        _dictLen = keep + data.Length;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.Length == 0) return 0;
        if (_outPos == _outLen && !NextBlock()) return 0;
        int n = Math.Min(buffer.Length, _outLen - _outPos);
        _out.AsSpan(_outPos, n).CopyTo(buffer);
        _outPos += n;
        return n;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _decoded - (_outLen - _outPos); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    private void ReturnBuffers()
    {
        if (_out.Length > 0) System.Buffers.ArrayPool<byte>.Shared.Return(_out);
        if (_src.Length > 0) System.Buffers.ArrayPool<byte>.Shared.Return(_src);
        _out = _src = Array.Empty<byte>();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) { ReturnBuffers(); _in.Dispose(); }
        base.Dispose(disposing);
    }
}
