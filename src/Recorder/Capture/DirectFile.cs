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
            _staged += n; src = src[n..];
            if (_staged == _stageCap) { PWriteAll(_stage, _stageCap, _flushed); _flushed += _stageCap; _staged = 0; Advance(); }
        }
    }

    /// <summary>Writes an aligned caller buffer directly when nothing is staged, else stages it.</summary>
    public void WriteBlock(byte* p, int len)
    {
        if (_staged == 0 && len % Alignment == 0 && ((nuint)p % (nuint)Alignment) == 0)
        {
            PWriteAll(p, len, _flushed); _flushed += len; Advance();
        }
        else Write(new ReadOnlySpan<byte>(p, len));
    }

    private void PWriteAll(byte* p, int len, long off)
    {
        if (_fallocOk && off + len > _allocated)
        {
            long chunk = Math.Max(PreallocChunk, len);
            if (Libc.FAllocate(_fd, Libc.FALLOC_FL_KEEP_SIZE, _allocated, off + len - _allocated + chunk) == 0) _allocated = off + len + chunk;
            else _fallocOk = false; // EOPNOTSUPP (tmpfs/others) or no room for the look-ahead: write without it
        }
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
