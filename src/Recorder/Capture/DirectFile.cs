using System.Runtime.InteropServices;
using Tap.Interop;

namespace Tap.Recorder.Capture;

/// <summary>An errno from a write path, with how many bytes of the file are known to be on disk.</summary>
public sealed class FileWriteException(int errno, string call, string path)
    : IOException($"{call}({path}): {Libc.StrError(errno)} (errno {errno})")
{
    public int Errno { get; } = errno;
    public bool IsDiskFull => Errno is Libc.ENOSPC or Libc.EDQUOT or Libc.EFBIG;
}

/// <summary>
/// One capture file written as NAME.part with O_DIRECT: whole aligned writes from an aligned staging buffer
/// (or straight from an aligned caller block), fallocate ahead, and a tail written padded then ftruncated to
/// the true length, fsynced, and renamed to NAME. Record boundaries are registered as checkpoints so that after
/// a failed write the file can be cut back to the last whole record that reached the disk.
/// Not thread-safe: used by the writer's I/O thread only.
/// </summary>
public sealed unsafe class DirectFile
{
    public const long PreallocChunk = 64L << 20;

    private int _fd;
    private readonly byte* _stage;
    private readonly int _stageCap;
    private int _staged;
    private long _flushed;            // bytes on disk from offset 0 (aligned when direct)
    private long _allocated;
    private bool _fallocOk = true;
    private readonly Queue<(long Off, long Recs, long Bytes)> _pending = new();
    private (long Off, long Recs, long Bytes) _durable = (0, -1, 0);

    public string PartPath { get; }
    public string FinalPath { get; }
    public int Alignment { get; }
    public bool Direct { get; private set; }
    public long Logical => _flushed + _staged;
    public long Flushed => _flushed;
    /// <summary>Bytes that went through the staging buffer (copied) rather than straight from a caller block.</summary>
    public long StagedBytes { get; private set; }
    /// <summary>Last record boundary known to be on disk: file offset and the writer's global record count there (-1: none).</summary>
    public (long Off, long Recs, long Bytes) DurableCheckpoint => _durable;
    public Action<string>? Notice { get; init; }

    /// <summary>Wraps a descriptor from OpenPart.</summary>
    public static DirectFile Adopt(int fd, string finalPath, bool direct, int align, byte* stage, int stageCap, Action<string>? notice) =>
        new(fd, finalPath + ".part", finalPath, direct, align, stage, stageCap) { Notice = notice };

    private DirectFile(int fd, string part, string final, bool direct, int align, byte* stage, int stageCap)
    {
        _fd = fd; PartPath = part; FinalPath = final; Direct = direct; Alignment = align; _stage = stage; _stageCap = stageCap;
    }

    /// <summary>Opens NAME.part: O_DIRECT|O_CREAT|O_WRONLY|O_CLOEXEC; when O_DIRECT is refused (EINVAL), buffered, with a notice.</summary>
    public static int OpenPart(string partPath, bool tryDirect, Action<string>? notice, out bool direct)
    {
        int flags = Libc.O_WRONLY | Libc.O_CREAT | Libc.O_TRUNC | Libc.O_CLOEXEC;
        direct = false;
        if (tryDirect)
        {
            int fd = Libc.Open(partPath, flags | Libc.ODirect, 0x1a4);
            if (fd >= 0) { direct = true; return fd; }
            int e = Libc.LastErrno;
            if (e != Libc.EINVAL) throw new FileWriteException(e, "open", partPath);
            notice?.Invoke($"recorder: O_DIRECT refused on {Path.GetDirectoryName(partPath)} (EINVAL, e.g. tmpfs); using buffered writes");
        }
        int fd2 = Libc.Open(partPath, flags, 0x1a4);
        if (fd2 < 0) throw new FileWriteException(Libc.LastErrno, "open", partPath);
        return fd2;
    }

    public static DirectFile Create(string finalPath, bool tryDirect, int align, byte* stage, int stageCap, Action<string>? notice)
    {
        string part = finalPath + ".part";
        int fd = OpenPart(part, tryDirect, notice, out bool direct);
        return new DirectFile(fd, part, finalPath, direct, align, stage, stageCap) { Notice = notice };
    }

    /// <summary>
    /// The alignment O_DIRECT needs for the file behind fd, read at run time:
    /// 1. statx(STATX_DIOALIGN) of the open file (kernel 6.1+): max(dio_offset_align, dio_mem_align);
    /// 2. else the backing block device's logical block size (/sys/dev/block/MAJ:MIN[/..]/queue/logical_block_size,
    ///    the value BLKSSZGET returns) found from the file's st_dev;
    /// 3. else 4096.
    /// The result is then raised to at least 4096 (a multiple of every smaller power-of-two block size, and the page size),
    /// because fstatfs f_bsize is the filesystem block size, not the device's O_DIRECT constraint.
    /// </summary>
    public static int DetectAlignment(string path, out string how)
    {
        int found = 0; how = "default 4096";
        byte* b = stackalloc byte[256];
        new Span<byte>(b, 256).Clear();
        if (Libc.Statx(Libc.AT_FDCWD, path, 0, Libc.STATX_BASIC_STATS | Libc.STATX_DIOALIGN, b) == 0)
        {
            uint mask = *(uint*)b;
            uint memAlign = *(uint*)(b + 152), offAlign = *(uint*)(b + 156);
            if ((mask & Libc.STATX_DIOALIGN) != 0 && offAlign > 0)
            {
                found = (int)Math.Max(memAlign, offAlign); how = $"statx dio_offset_align={offAlign} dio_mem_align={memAlign}";
            }
            else
            {
                uint maj = *(uint*)(b + 136), min = *(uint*)(b + 140);
                foreach (var p in new[] { $"/sys/dev/block/{maj}:{min}/queue/logical_block_size", $"/sys/dev/block/{maj}:{min}/../queue/logical_block_size" })
                {
                    try
                    {
                        if (File.Exists(p) && int.TryParse(File.ReadAllText(p).Trim(), out int lbs) && lbs > 0)
                        { found = lbs; how = $"logical_block_size of block device {maj}:{min} = {lbs}"; break; }
                    }
                    catch (IOException) { } catch (UnauthorizedAccessException) { }
                }
            }
        }
        int a = Math.Max(4096, found);
        if ((a & (a - 1)) != 0) a = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)a);
        return a;
    }

    /// <summary>Registers a record boundary: file offset, and the writer's global frame and byte counts up to it.</summary>
    public void AddCheckpoint(long off, long recs, long bytes)
    {
        if (off <= _flushed) { if (off >= _durable.Off) _durable = (off, recs, bytes); }
        else _pending.Enqueue((off, recs, bytes));
    }

    private void Advance()
    {
        while (_pending.Count > 0 && _pending.Peek().Off <= _flushed) _durable = _pending.Dequeue();
    }

    /// <summary>Appends bytes through the staging buffer; every full stage is one aligned write.</summary>
    public void Write(ReadOnlySpan<byte> src)
    {
        while (src.Length > 0)
        {
            int n = Math.Min(src.Length, _stageCap - _staged);
            src[..n].CopyTo(new Span<byte>(_stage + _staged, n));
            _staged += n; src = src[n..]; StagedBytes += n;
            if (_staged == _stageCap) { PWriteAll(_stage, _stageCap, _flushed); _flushed += _stageCap; _staged = 0; Advance(); }
        }
    }

    /// <summary>
    /// Writes an aligned caller buffer straight to the disk when nothing is staged: its aligned prefix in one pwrite,
    /// only the unaligned remainder (less than Alignment bytes) is staged. Otherwise (something staged, or an unaligned
    /// pointer) the whole buffer is staged.
    /// </summary>
    public void WriteBlock(byte* p, int len)
    {
        var (direct, rest) = SplitDirect(_staged, (nuint)p, len, Alignment);
        if (direct > 0) { PWriteAll(p, direct, _flushed); _flushed += direct; Advance(); }
        if (rest > 0) Write(new ReadOnlySpan<byte>(p + direct, rest));
    }

    /// <summary>How WriteBlock splits a caller buffer: bytes written straight from it (a multiple of the alignment,
    /// only when nothing is staged and the buffer is aligned), and bytes that go through the stage.</summary>
    public static (int Direct, int Staged) SplitDirect(int alreadyStaged, nuint ptr, int len, int alignment)
    {
        if (alreadyStaged != 0 || ptr % (nuint)alignment != 0) return (0, len);
        int d = len / alignment * alignment;
        return (d, len - d);
    }

    /// <summary>
    /// Two consecutive caller blocks with two writes in flight: the helper thread writes the first at the current end,
    /// this thread the aligned prefix of the second right behind it. Only when nothing is staged, O_DIRECT is on and
    /// both are aligned (the first one whole); else the same as two WriteBlock calls. A failed half is redone through
    /// the synchronous path, which applies every error rule (EINVAL fallback, ENOSPC) and throws with the offset
    /// accounting intact: Flushed only moves past a block once it and everything before it are on disk.
    /// </summary>
    public void WriteBlockPair(PairWriter helper, byte* p1, int len1, byte* p2, int len2)
    {
        var (d1, r1) = SplitDirect(_staged, (nuint)p1, len1, Alignment);
        var (d2, r2) = SplitDirect(0, (nuint)p2, len2, Alignment);
        if (!Direct || r1 != 0 || d1 == 0 || d2 == 0) { WriteBlock(p1, len1); WriteBlock(p2, len2); return; }
        long off = _flushed;
        Preallocate(off, d1 + d2);
        helper.Start(_fd, p1, d1, off);
        int e2 = PWriteRaw(_fd, p2, d2, off + d1);
        int e1 = helper.Wait();
        if (e1 != 0) PWriteAll(p1, d1, off);
        _flushed += d1; Advance();
        if (e2 != 0) PWriteAll(p2, d2, _flushed);
        _flushed += d2; Advance();
        if (r2 > 0) Write(new ReadOnlySpan<byte>(p2 + d2, r2));
    }

    /// <summary>pwrite until done; 0 or the errno (a zero-byte write counts as ENOSPC). No fallbacks, no throw.</summary>
    internal static int PWriteRaw(int fd, byte* p, int len, long off)
    {
        int done = 0;
        while (done < len)
        {
            nint r = Libc.PWrite(fd, p + done, (nuint)(len - done), off + done);
            if (r > 0) { done += (int)r; continue; }
            int e = r == 0 ? Libc.ENOSPC : Libc.LastErrno;
            if (e == Libc.EINTR) continue;
            return e;
        }
        return 0;
    }

    private void Preallocate(long off, int len)
    {
        if (_fallocOk && off + len > _allocated)
        {
            long chunk = Math.Max(PreallocChunk, len);
            if (Libc.FAllocate(_fd, Libc.FALLOC_FL_KEEP_SIZE, _allocated, off + len - _allocated + chunk) == 0) _allocated = off + len + chunk;
            else _fallocOk = false; // EOPNOTSUPP (tmpfs/others) or no room for the look-ahead: write without it
        }
    }

    private void PWriteAll(byte* p, int len, long off)
    {
        Preallocate(off, len);
        int done = 0;
        while (done < len)
        {
            nint r = Libc.PWrite(_fd, p + done, (nuint)(len - done), off + done);
            if (r > 0) { done += (int)r; continue; }
            int e = r == 0 ? Libc.ENOSPC : Libc.LastErrno;
            if (e == Libc.EINTR) continue;
            if (e == Libc.EINVAL && Direct && done == 0)
            {
                // The filesystem accepted O_DIRECT at open but refuses the I/O: continue buffered.
                int fl = Libc.FcntlInt(_fd, Libc.F_GETFL, 0);
                if (fl >= 0 && Libc.FcntlInt(_fd, Libc.F_SETFL, fl & ~Libc.ODirect) == 0)
                {
                    Direct = false;
                    Notice?.Invoke($"recorder: O_DIRECT write refused on {Path.GetDirectoryName(PartPath)} (EINVAL); using buffered writes");
                    continue;
                }
            }
            // A short O_DIRECT write leaves an unaligned remainder that the kernel then refuses with EINVAL:
            // the short write itself was the filesystem running out of space.
            if (done > 0 && e == Libc.EINVAL && Direct) e = Libc.ENOSPC;
            throw new FileWriteException(e, "pwrite", PartPath);
        }
    }

    /// <summary>Normal close: write the staged tail padded to the alignment, ftruncate to the true length, fsync, close, rename.</summary>
    public long Finish()
    {
        long trueLen = Logical;
        if (_staged > 0)
        {
            int len = Direct ? (_staged + Alignment - 1) / Alignment * Alignment : _staged;
            new Span<byte>(_stage + _staged, len - _staged).Clear();
            PWriteAll(_stage, len, _flushed);
            _flushed += _staged; _staged = 0; Advance();
        }
        if (Libc.FTruncate(_fd, trueLen) != 0) throw new FileWriteException(Libc.LastErrno, "ftruncate", PartPath);
        if (Libc.FSync(_fd) != 0) throw new FileWriteException(Libc.LastErrno, "fsync", PartPath);
        CloseFd();
        if (Libc.Rename(PartPath, FinalPath) != 0) throw new FileWriteException(Libc.LastErrno, "rename", PartPath);
        return trueLen;
    }

    /// <summary>
    /// After a failed write: cut the file back to the last whole record on disk, append trailer(recs) with a plain
    /// (non-O_DIRECT) write if there is room, fsync, close and rename. Returns the final length, or -1 when not even
    /// the file header reached the disk (the .part file is then removed).
    /// </summary>
    public long Salvage(Func<long, byte[][]> trailers, out long durableRecs, out long durableBytes)
    {
        _staged = 0;
        var (off, recs, bytes) = _durable;
        durableRecs = recs; durableBytes = bytes;
        if (recs < 0 || off == 0)
        {
            CloseFd();
            try { File.Delete(PartPath); } catch (IOException) { }
            return -1;
        }
        Libc.FTruncate(_fd, off);
        int fl = Libc.FcntlInt(_fd, Libc.F_GETFL, 0);
        if (fl >= 0) Libc.FcntlInt(_fd, Libc.F_SETFL, fl & ~Libc.ODirect);
        long len = off;
        foreach (var t in trailers(recs))   // the first candidate that fits wins (e.g. ISB + LZ4 end mark, then end mark only)
        {
            if (t.Length == 0) break;
            fixed (byte* p = t)
            {
                nint r = Libc.PWrite(_fd, p, (nuint)t.Length, off);
                if (r == t.Length) { len = off + t.Length; break; }
                Libc.FTruncate(_fd, off);
            }
        }
        Libc.FSync(_fd);
        CloseFd();
        Libc.Rename(PartPath, FinalPath);
        return len;
    }

    /// <summary>Close without renaming (the writer is being torn down after an unexpected error).</summary>
    public void CloseFd()
    {
        if (_fd >= 0) { Libc.Close(_fd); _fd = -1; }
    }
}

/// <summary>
/// The second write in flight: one helper thread that performs one pwrite handed to it by the writer's I/O thread
/// (Start), while the I/O thread writes the next block itself, then waits for it (Wait). Errors are returned, never thrown.
/// </summary>
public sealed unsafe class PairWriter : IDisposable
{
    private readonly Thread _t;
    private readonly SemaphoreSlim _go = new(0), _done = new(0);
    private int _fd, _len, _err;
    private byte* _p;
    private long _off;
    private volatile bool _stop;

    public PairWriter(string name = "capture-io2")
    {
        _t = new Thread(Loop) { Name = name, IsBackground = true };
        _t.Start();
    }

    public void Start(int fd, byte* p, int len, long off)
    {
        _fd = fd; _p = p; _len = len; _off = off; _err = 0;
        _go.Release();   // release/acquire through the semaphore publishes the fields
    }

    public int Wait() { _done.Wait(); return _err; }

    private void Loop()
    {
        while (true)
        {
            _go.Wait();
            if (_stop) return;
            _err = DirectFile.PWriteRaw(_fd, _p, _len, _off);
            _done.Release();
        }
    }

    public void Dispose()
    {
        if (_stop) return;
        _stop = true;
        _go.Release();
        _t.Join();
    }
}
