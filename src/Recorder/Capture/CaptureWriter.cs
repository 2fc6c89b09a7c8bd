using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using K4os.Compression.LZ4;

namespace Tap.Recorder.Capture;

/// <summary>
/// The writer pipeline. One capture thread calls Write(): it encodes the record straight into the current aligned
/// block (records may span two blocks: the file is one byte stream); a full block is queued to a dedicated I/O
/// thread. When no free block is left the frame is dropped and counted (QueueDrops); the capture thread never waits.
/// The I/O thread owns the files: O_DIRECT whole-block writes, LZ4 framing (compression runs there), rotation
/// open/close, the pcapng ISB at close, the tail (pad, ftruncate, fsync, rename), and disk-full salvage.
/// Memory: Blocks x BufferBytes (capped at CaptureOptions.MaxPoolBytes), one staging block and one LZ4 scratch block,
/// all allocated once.
/// The file header (pcap header, or pcapng SHB+IDB) is written by the capture thread into the first block of each file,
/// so every block of a file starts at an aligned file offset and the I/O thread writes full blocks with O_DIRECT straight
/// from the block buffer (no copy). Only the last block of a file has an unaligned end: its aligned prefix is written
/// directly too, and the remainder (less than one alignment unit) goes through the staging buffer with the pcapng ISB.
/// </summary>
public sealed unsafe class CaptureWriter : IDisposable
{
    private sealed class Block
    {
        public byte* Ptr; public int Cap; public int Used;
        /// <summary>Bytes of file header at the start of this block (the first block of a file), else 0.</summary>
        public int HeaderLen;
        public int LastRecEnd = -1; public long RecsAtLastRecEnd, BytesAtLastRecEnd;
        public void Reset() { Used = 0; HeaderLen = 0; LastRecEnd = -1; }
    }
    private sealed record OpenMsg(string FinalPath, long StartRecs, long StartBytes);
    private sealed record CloseMsg(long Accepted, long QueueDrops, long SourceDrops, long Rejected, long EndNs);
    private sealed class StopMsg { }

    private readonly CaptureOptions _o;
    private readonly CaptureFormat _fmt;
    private readonly int _snap;
    private readonly byte[] _header;
    private readonly long _rotNs;
    private readonly ConcurrentQueue<Block> _free = new();
    private readonly ConcurrentQueue<object> _q = new();
    private readonly SemaphoreSlim _sig = new(0);
    private readonly Thread _io;
    private readonly object _lock = new();
    private readonly Action<string> _notice;
    private readonly List<Block> _all = new();
    private readonly byte* _stage;
    private readonly int _stageCap;
    private readonly byte* _lz;
    private readonly int _lzCap;
    private readonly int _align;
    private bool _noticeGiven;

    // capture-thread state (under _lock)
    private Block? _cur, _next;
    private long _fileBytes, _fileRecs, _fileStartNs, _lastNameNs, _seq, _lastTs;
    private bool _completed;
    private bool _headerPending = true;   // the current file's header is not yet in a block
    private readonly long _captureStartNs;

    // counters
    private long _accepted, _bytes, _queueDrops, _rejected, _badTs, _sourceDrops;
    private long _writeErrors, _writeErrorDrops, _closedBytes, _curFlushed, _backlog, _lastWriteTicks;
    private long _durableRecsAtFull = long.MaxValue, _durableBytesAtFull = long.MaxValue;
    private volatile bool _diskFull;
    private volatile bool _direct;
    private readonly List<string> _files = new();

    // I/O-thread state
    private DirectFile? _file;
    private readonly PairWriter? _pair;   // second write in flight (uncompressed files only)
    private long _fileStartRecs, _fileStartBytes;
    private bool _fileHeaderDone;
    private long _stagedBytes, _closedStaged;
    private bool _broken; private long _brokenDurable;

    public CaptureWriter(CaptureOptions o) : this(o, null) { }

    /// <param name="notice">where one-line notices go (default: stderr).</param>
    public CaptureWriter(CaptureOptions o, Action<string>? notice)
    {
        _o = o;
        _notice = notice ?? (s => Console.Error.WriteLine(s));
        _fmt = o.Format;
        _snap = o.EffectiveSnaplen;
        _rotNs = o.RotateSeconds > 0 ? o.RotateSeconds * 1_000_000_000L : 0;
        if (!Directory.Exists(o.OutputDir)) throw new DirectoryNotFoundException($"output directory {o.OutputDir} does not exist");
        if (o.Blocks < 2) throw new ArgumentOutOfRangeException(nameof(o), "Blocks must be at least 2");
        _header = CaptureEncoding.FileHeader(_fmt, _snap, o.LinkType, o.InterfaceName);
        _captureStartNs = WallClock.NowNs();

        string first = NextName(_captureStartNs);
        int fd = DirectFile.OpenPart(first + ".part", true, Notice, out bool direct);
        try
        {
            _align = DirectFile.DetectAlignment(first + ".part", out _);
            int blk = Math.Max(1 << 20, o.BufferBytes);
            blk = (blk + _align - 1) / _align * _align;
            int nblk = PoolBlocks(o.Blocks, blk);
            for (int i = 0; i < nblk; i++)
            {
                var b = new Block { Ptr = (byte*)NativeMemory.AlignedAlloc((nuint)blk, (nuint)_align), Cap = blk };
                _all.Add(b); _free.Enqueue(b);
            }
            _stageCap = blk;
            _stage = (byte*)NativeMemory.AlignedAlloc((nuint)_stageCap, (nuint)_align);
            if (o.Lz4)
            {
                _lzCap = LZ4Codec.MaximumOutputSize(Lz4Frame.MaxBlock) + 8;
                _lz = (byte*)NativeMemory.AlignedAlloc((nuint)_lzCap, 64);
            }
        }
        catch { Tap.Interop.Libc.Close(fd); FreeMemory(); throw; }
        _direct = direct;
        _file = DirectFile.Adopt(fd, first, direct, _align, _stage, _stageCap, Notice);
        StartFile(0, 0);
        _fileStartNs = _captureStartNs;
        _fileBytes = _header.Length;
        _lastWriteTicks = Stopwatch.GetTimestamp();
        if (!o.Lz4) _pair = new PairWriter();
        _io = new Thread(IoLoop) { Name = "capture-io", IsBackground = true };
        _io.Start();
    }

    public int Alignment => _align;
    /// <summary>Bytes of the block pool (Blocks x block size after the MaxPoolBytes cap).</summary>
    public long PoolBytes => _all.Count > 0 ? (long)_all.Count * _all[0].Cap : 0;

    /// <summary>How many blocks of <paramref name="blockBytes"/> the pool gets: the requested count, capped so that the pool
    /// stays within CaptureOptions.MaxPoolBytes, and never fewer than 2.</summary>
    public static int PoolBlocks(int requested, int blockBytes) =>
        (int)Math.Max(2, Math.Min(requested, CaptureOptions.MaxPoolBytes / blockBytes));
    /// <summary>Blocks currently free for the capture thread (a cheap back-pressure hint for callers that may wait).</summary>
    public int FreeBlocks => _free.Count;
    public bool DirectIo => _direct;

    private void Notice(string s)
    {
        if (s.Contains("O_DIRECT")) { if (_noticeGiven) return; _noticeGiven = true; }
        _notice(s);
    }

    private string NextName(long ns)
    {
        if (ns < _lastNameNs) ns = _lastNameNs;
        _lastNameNs = ns;
        string ext = (_fmt == CaptureFormat.Pcap ? ".pcap" : ".pcapng") + (_o.Lz4 ? ".lz4" : "");
        return Path.Combine(_o.OutputDir, $"{_o.FilePrefix}-{WallClock.FileStamp(ns)}-{_seq++:D4}{ext}");
    }

    // ---------------------------------------------------------------- capture thread

    public void Write(ReadOnlySpan<byte> frame, int origLen, long wallClockNs)
    {
        lock (_lock)
        {
            if (_completed || _diskFull) { _rejected++; return; }
            if (wallClockNs < WallClock.MinPlausibleNs) { wallClockNs = WallClock.NowNs(); _badTs++; }
            int cap = Math.Min(frame.Length, _snap);
            if (origLen < frame.Length) origLen = frame.Length;
            int rec = CaptureEncoding.RecordLength(_fmt, cap);
            if (_fileRecs == 0) _fileStartNs = wallClockNs;   // rotation by seconds follows frame time
            if (_fileRecs > 0 && ((_o.RotateSizeBytes > 0 && _fileBytes + rec > _o.RotateSizeBytes) ||
                                  (_rotNs > 0 && wallClockNs - _fileStartNs >= _rotNs)))
                Rotate(wallClockNs);
            if (_cur == null)
            {
                if (!_free.TryDequeue(out _cur)) { _queueDrops++; return; }
                _cur.Reset();
                if (_headerPending) PlaceHeader();
            }
            if (_cur.Cap - _cur.Used < rec && _next == null)
            {
                if (!_free.TryDequeue(out _next)) { _queueDrops++; return; }
                _next.Reset();
            }
            Span<byte> h = stackalloc byte[32];
            int hl = CaptureEncoding.RecordHeader(_fmt, h, wallClockNs, cap, origLen);
            Emit(h[..hl]);
            Emit(frame[..cap]);
            int tl = CaptureEncoding.RecordTrailer(_fmt, h, cap);
            if (tl > 0) Emit(h[..tl]);
            _accepted++; _bytes += cap; _fileRecs++; _fileBytes += rec; _lastTs = wallClockNs;
            var c = _cur!;
            c.LastRecEnd = c.Used; c.RecsAtLastRecEnd = _accepted; c.BytesAtLastRecEnd = _bytes;
            if (c.Used == c.Cap) { Submit(c); _cur = _next; _next = null; }
        }
    }

    /// <summary>The file header goes at the start of the file's first block (capture thread, _cur empty).</summary>
    private void PlaceHeader()
    {
        var c = _cur!;
        Debug.Assert(c.Used == 0);
        _header.CopyTo(new Span<byte>(c.Ptr, c.Cap));
        c.Used = c.HeaderLen = _header.Length;
        _headerPending = false;
    }

    private void Emit(ReadOnlySpan<byte> src)
    {
        while (src.Length > 0)
        {
            var c = _cur!;
            if (c.Used == c.Cap) { Submit(c); _cur = c = _next!; _next = null; }
            int n = Math.Min(src.Length, c.Cap - c.Used);
            src[..n].CopyTo(new Span<byte>(c.Ptr + c.Used, n));
            c.Used += n; src = src[n..];
        }
    }

    private void Submit(Block b)
    {
        Interlocked.Add(ref _backlog, b.Used);
        _q.Enqueue(b); _sig.Release();
    }

    private void Enqueue(object m) { _q.Enqueue(m); _sig.Release(); }

    private void Rotate(long ts)
    {
        if (_cur != null) { if (_cur.Used > 0) { Submit(_cur); _cur = null; } }
        Enqueue(new CloseMsg(_accepted, _queueDrops, Volatile.Read(ref _sourceDrops), _rejected, _lastTs));
        Enqueue(new OpenMsg(NextName(ts), _accepted, _bytes));
        _fileRecs = 0; _fileBytes = _header.Length; _fileStartNs = ts;
        _headerPending = true;
        if (_cur != null) PlaceHeader();   // an empty block kept across the rotation
    }

    /// <summary>The source's cumulative drop total (socket/ring drops).</summary>
    public void CountSourceDrops(long dropped)
    {
        long cur;
        do { cur = Volatile.Read(ref _sourceDrops); if (dropped <= cur) return; }
        while (Interlocked.CompareExchange(ref _sourceDrops, dropped, cur) != cur);
    }

    public WriterStats Stats
    {
        get
        {
            long acc = Volatile.Read(ref _accepted), full = Volatile.Read(ref _durableRecsAtFull);
            long bytes = Volatile.Read(ref _bytes), fullBytes = Volatile.Read(ref _durableBytesAtFull);
            long wed = Volatile.Read(ref _writeErrorDrops);
            string[] files; lock (_files) files = _files.ToArray();
            double age = (Stopwatch.GetTimestamp() - Volatile.Read(ref _lastWriteTicks)) / (double)Stopwatch.Frequency;
            return new WriterStats(
                Frames: Math.Min(acc, full) - wed,
                Bytes: Math.Min(bytes, fullBytes),
                QueueDrops: Volatile.Read(ref _queueDrops),
                WriteErrors: Volatile.Read(ref _writeErrors),
                DiskFullDrops: (_diskFull ? Volatile.Read(ref _rejected) : 0) + Math.Max(0, acc - full),
                BacklogBytes: Volatile.Read(ref _backlog),
                LastWriteAgeSeconds: age,
                FileBytesWritten: Volatile.Read(ref _closedBytes) + Volatile.Read(ref _curFlushed),
                Files: files,
                DiskFull: _diskFull)
            {
                BadTimestamps = Volatile.Read(ref _badTs),
                SourceDrops = Volatile.Read(ref _sourceDrops),
                WriteErrorDrops = wed,
                DirectIo = _direct,
                Alignment = _align,
                StagedBytes = Volatile.Read(ref _stagedBytes),
            };
        }
    }

    public void Complete()
    {
        lock (_lock)
        {
            if (_completed) return;
            _completed = true;
            if (_cur != null) { if (_cur.Used > 0) Submit(_cur); else _free.Enqueue(_cur); _cur = null; }
            if (_next != null) { _free.Enqueue(_next); _next = null; }
            Enqueue(new CloseMsg(_accepted, _queueDrops, Volatile.Read(ref _sourceDrops), _rejected, _lastTs));
            Enqueue(new StopMsg());
        }
        _io.Join();
        _pair?.Dispose();
        FreeMemory();
    }

    public void Dispose() => Complete();

    private void FreeMemory()
    {
        foreach (var b in _all) { NativeMemory.AlignedFree(b.Ptr); b.Ptr = null; }
        _all.Clear();
        if (_stage != null) NativeMemory.AlignedFree(_stage);
        if (_lz != null) NativeMemory.AlignedFree(_lz);
    }

    // ---------------------------------------------------------------- I/O thread

    private void IoLoop()
    {
        while (true)
        {
            _sig.Wait();
            if (!_q.TryDequeue(out var m)) continue;
            Block? pair = null;
            // A backlog of uncompressed blocks: take the next one too and keep two writes in flight.
            if (m is Block && _pair != null && _q.TryPeek(out var nx) && nx is Block && _q.TryDequeue(out var m2))
            {
                pair = (Block)m2;
                _sig.Wait();   // its signal is already counted: returns at once
            }
            try
            {
                switch (m)
                {
                    case Block b when pair != null: HandleBlockPair(b, pair); break;
                    case Block b: HandleBlock(b); break;
                    case OpenMsg op: HandleOpen(op); break;
                    case CloseMsg cl: HandleClose(cl); break;
                    case StopMsg: return;
                }
            }
            catch (FileWriteException e) { HandleWriteError(e); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
            {
                HandleWriteError(e);
            }
            finally
            {
                if (m is Block b) Release(b);
                if (pair != null) Release(pair);
            }
        }
    }

    private void StartFile(long startRecs, long startBytes)
    {
        var f = _file!;
        _fileStartRecs = startRecs; _fileStartBytes = startBytes;
        _fileHeaderDone = false;   // the header arrives in the file's first block (Block.HeaderLen)
        if (_o.Lz4) f.Write(Lz4Frame.Header());
    }

    /// <summary>A file that got no block from the capture thread (closed before any frame fit): header through the stage.</summary>
    private void EnsureHeader()
    {
        if (_fileHeaderDone) return;
        var f = _file!;
        if (_o.Lz4) LzWrite(_header); else f.Write(_header);
        f.AddCheckpoint(f.Logical, _fileStartRecs, _fileStartBytes);
        _fileHeaderDone = true;
    }

    private void HandleOpen(OpenMsg m)
    {
        _broken = false;
        if (_diskFull) return;
        _file = DirectFile.Create(m.FinalPath, true, _align, _stage, _stageCap, Notice);
        _direct = _file.Direct;
        StartFile(m.StartRecs, m.StartBytes);
        Touch();
    }

    private void HandleBlock(Block b)
    {
        var f = _file;
        if (f == null || _diskFull) return;   // broken or full file: its frames are accounted at close / via DiskFullDrops
        if (b.HeaderLen == 0) EnsureHeader();  // cannot happen (the header is in the file's first block); kept as a guard
        if (!_o.Lz4)
        {
            long baseOff = f.Logical;
            if (b.HeaderLen > 0) { f.AddCheckpoint(baseOff + b.HeaderLen, _fileStartRecs, _fileStartBytes); _fileHeaderDone = true; }
            if (b.LastRecEnd >= 0) f.AddCheckpoint(baseOff + b.LastRecEnd, b.RecsAtLastRecEnd, b.BytesAtLastRecEnd);
            f.WriteBlock(b.Ptr, b.Used);
        }
        else
        {
            // The header is its own LZ4 block, and one LZ4 block ends exactly at the last record boundary,
            // so the compressed file can be cut back to either.
            var all = new ReadOnlySpan<byte>(b.Ptr, b.Used);
            int start = 0;
            if (b.HeaderLen > 0)
            {
                LzWrite(all[..b.HeaderLen]);
                f.AddCheckpoint(f.Logical, _fileStartRecs, _fileStartBytes);
                _fileHeaderDone = true;
                start = b.HeaderLen;
            }
            int cut = b.LastRecEnd >= start ? b.LastRecEnd : start;
            if (cut > start)
            {
                LzWrite(all[start..cut]);
                f.AddCheckpoint(f.Logical, b.RecsAtLastRecEnd, b.BytesAtLastRecEnd);
            }
            if (cut < b.Used) LzWrite(all[cut..]);
        }
        _direct = f.Direct;
        Volatile.Write(ref _stagedBytes, _closedStaged + f.StagedBytes);
        Volatile.Write(ref _curFlushed, f.Flushed);
        Touch();
    }

    private void Release(Block b) { Interlocked.Add(ref _backlog, -b.Used); b.Reset(); _free.Enqueue(b); }

    /// <summary>Two consecutive uncompressed blocks of the same file (a Close/Open always separates files):
    /// checkpoints first, then both written with two pwrites in flight.</summary>
    private void HandleBlockPair(Block b1, Block b2)
    {
        var f = _file;
        if (f == null || _diskFull) return;
        if (b1.HeaderLen == 0) EnsureHeader();
        long baseOff = f.Logical;
        if (b1.HeaderLen > 0) { f.AddCheckpoint(baseOff + b1.HeaderLen, _fileStartRecs, _fileStartBytes); _fileHeaderDone = true; }
        if (b1.LastRecEnd >= 0) f.AddCheckpoint(baseOff + b1.LastRecEnd, b1.RecsAtLastRecEnd, b1.BytesAtLastRecEnd);
        if (b2.LastRecEnd >= 0) f.AddCheckpoint(baseOff + b1.Used + b2.LastRecEnd, b2.RecsAtLastRecEnd, b2.BytesAtLastRecEnd);
        f.WriteBlockPair(_pair!, b1.Ptr, b1.Used, b2.Ptr, b2.Used);
        _direct = f.Direct;
        Volatile.Write(ref _stagedBytes, _closedStaged + f.StagedBytes);
        Volatile.Write(ref _curFlushed, f.Flushed);
        Touch();
    }

    private void Touch() => Volatile.Write(ref _lastWriteTicks, Stopwatch.GetTimestamp());

    private void LzWrite(ReadOnlySpan<byte> raw)
    {
        var f = _file!;
        while (raw.Length > 0)
        {
            var piece = raw[..Math.Min(raw.Length, Lz4Frame.MaxBlock)];
            int n = LZ4Codec.Encode(piece, new Span<byte>(_lz + 4, _lzCap - 4), LZ4Level.L00_FAST);
            if (n > 0 && n < piece.Length)
            {
                *(uint*)_lz = (uint)n;
                f.Write(new ReadOnlySpan<byte>(_lz, n + 4));
            }
            else
            {
                uint hdr = (uint)piece.Length | 0x8000_0000u;
                f.Write(new ReadOnlySpan<byte>(&hdr, 4));
                f.Write(piece);
            }
            raw = raw[piece.Length..];
        }
    }

    private byte[] IsbFor(long written, long ifRecv, long endNs)
    {
        long now = WallClock.NowNs();
        if (endNs < WallClock.MinPlausibleNs) endNs = now;
        return CaptureEncoding.Isb(now, _captureStartNs, endNs, ifRecv, ifRecv - written);
    }

    private void HandleClose(CloseMsg c)
    {
        if (_broken)
        {
            Interlocked.Add(ref _writeErrorDrops, Math.Max(0, c.Accepted - _brokenDurable));
            _broken = false;
            return;
        }
        var f = _file;
        if (f == null || _diskFull) return;
        EnsureHeader();
        if (_fmt == CaptureFormat.Pcapng)
        {
            long wed = Volatile.Read(ref _writeErrorDrops);
            long ifRecv = c.Accepted + c.QueueDrops + c.SourceDrops + c.Rejected;
            var isb = IsbFor(c.Accepted - wed, ifRecv, c.EndNs);
            if (_o.Lz4) LzWrite(isb); else f.Write(isb);
        }
        if (_o.Lz4) f.Write(stackalloc byte[4]); // LZ4 end mark
        long len = f.Finish();
        _closedStaged += f.StagedBytes;
        Volatile.Write(ref _stagedBytes, _closedStaged);
        _file = null;
        Interlocked.Add(ref _closedBytes, len);
        Volatile.Write(ref _curFlushed, 0);
        lock (_files) _files.Add(f.FinalPath);
        Touch();
    }

    private void HandleWriteError(Exception e)
    {
        var f = _file;
        bool full = e is FileWriteException { IsDiskFull: true };
        if (!full) Interlocked.Increment(ref _writeErrors);
        long recs = _fileStartRecs, bytes = _fileStartBytes;
        if (f != null)
        {
            long len;
            try
            {
                len = f.Salvage(r => Trailers(r < 0 ? _fileStartRecs : r), out long dr, out long db);
                if (dr >= 0) { recs = dr; bytes = db; }
            }
            catch (Exception) { len = -1; f.CloseFd(); }
            if (len >= 0)
            {
                Interlocked.Add(ref _closedBytes, len);
                lock (_files) _files.Add(f.FinalPath);
            }
            Volatile.Write(ref _curFlushed, 0);
            _file = null;
        }
        if (full)
        {
            Volatile.Write(ref _durableBytesAtFull, bytes);
            Volatile.Write(ref _durableRecsAtFull, recs);
            _diskFull = true;
            _notice($"recorder: disk full writing {f?.PartPath ?? _o.OutputDir} ({e.Message}); file closed at the last whole record, further frames are dropped and counted");
        }
        else
        {
            _broken = true; _brokenDurable = recs;
            _notice($"recorder: write error: {e.Message}; file closed at the last whole record, frames until the next rotation are dropped and counted");
        }
    }

    private byte[][] Trailers(long writtenRecs)
    {
        var endMark = new byte[4];
        if (_fmt == CaptureFormat.Pcap) return _o.Lz4 ? [endMark] : [];
        long acc = Volatile.Read(ref _accepted);
        long ifRecv = acc + Volatile.Read(ref _queueDrops) + Volatile.Read(ref _sourceDrops) + Volatile.Read(ref _rejected);
        var isb = IsbFor(writtenRecs - Volatile.Read(ref _writeErrorDrops), ifRecv, Volatile.Read(ref _lastTs));
        if (!_o.Lz4) return [isb];
        var blk = new byte[4 + isb.Length + 4];
        BitConverter.TryWriteBytes(blk, (uint)isb.Length | 0x8000_0000u);
        isb.CopyTo(blk, 4);
        return [blk, endMark];
    }
}
