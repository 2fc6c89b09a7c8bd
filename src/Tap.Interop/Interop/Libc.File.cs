using System.Runtime.InteropServices;

namespace Tap.Interop;

/// <summary>libc: files for the recorder's O_DIRECT writer (open, pwrite, fallocate, ftruncate, fsync, statx, clocks).</summary>
public static unsafe partial class Libc
{
    public const int O_WRONLY = 0x1;
    public const int O_RDWR = 0x2;
    public const int O_CREAT = 0x40;
    public const int O_TRUNC = 0x200;
    public const int O_CLOEXEC = 0x80000;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int FALLOC_FL_KEEP_SIZE = 1;
    public const int AT_FDCWD = -100;
    public const int AT_EMPTY_PATH = 0x1000;
    public const uint STATX_BASIC_STATS = 0x7ff;
    public const uint STATX_DIOALIGN = 0x2000;
    public const int CLOCK_REALTIME = 0, CLOCK_MONOTONIC = 1, CLOCK_TAI = 11;

    public const int EINTR = 4, EIO = 5, EAGAIN = 11, EINVAL = 22, EFBIG = 27, ENOSPC = 28, EDQUOT = 122, EOPNOTSUPP = 95, ENOSYS = 38;

    /// <summary>O_DIRECT for the running architecture (asm-generic 0x4000; arm/arm64 0x10000).</summary>
    public static int ODirect => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x10000 : 0x4000;

    // int open(const char *pathname, int flags, mode_t mode);
    [LibraryImport(Lib, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int open(string path, int flags, uint mode);

    // ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset);
    [LibraryImport(Lib, EntryPoint = "pwrite", SetLastError = true)]
    internal static partial nint pwrite(int fd, void* buf, nuint count, long offset);

    // int ftruncate(int fd, off_t length);
    [LibraryImport(Lib, EntryPoint = "ftruncate", SetLastError = true)]
    internal static partial int ftruncate(int fd, long length);

    // int fsync(int fd);
    [LibraryImport(Lib, EntryPoint = "fsync", SetLastError = true)]
    internal static partial int fsync(int fd);

    // int fallocate(int fd, int mode, off_t offset, off_t len);
    [LibraryImport(Lib, EntryPoint = "fallocate", SetLastError = true)]
    internal static partial int fallocate(int fd, int mode, long offset, long len);

    // int fcntl(int fd, int cmd, ... /* arg */);
    [LibraryImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int fcntl(int fd, int cmd, int arg);

    // int statx(int dirfd, const char *pathname, int flags, unsigned int mask, struct statx *statxbuf);
    [LibraryImport(Lib, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int statx(int dirfd, string path, int flags, uint mask, byte* buf256);

    // int ioctl(int fd, unsigned long request, ...);   used with BLKSSZGET (0x1268) and an int *
    [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int ioctl(int fd, nuint request, int* arg);

    // int rename(const char *oldpath, const char *newpath);
    [LibraryImport(Lib, EntryPoint = "rename", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int rename(string oldPath, string newPath);

    // int clock_gettime(clockid_t clockid, struct timespec *tp);
    [LibraryImport(Lib, EntryPoint = "clock_gettime", SetLastError = true)]
    internal static partial int clock_gettime(int clockId, long* ts2);

    public const nuint BLKSSZGET = 0x1268;

    public static int LastErrno => Marshal.GetLastPInvokeError();

    // Public thin wrappers for the recorder (the raw imports stay internal).
    public static int Open(string path, int flags, uint mode) => open(path, flags, mode);
    public static nint PWrite(int fd, void* buf, nuint count, long offset) => pwrite(fd, buf, count, offset);
    public static int FTruncate(int fd, long length) => ftruncate(fd, length);
    public static int FSync(int fd) => fsync(fd);
    public static int FAllocate(int fd, int mode, long offset, long len) => fallocate(fd, mode, offset, len);
    public static int FcntlInt(int fd, int cmd, int arg) => fcntl(fd, cmd, arg);
    public static int Close(int fd) => close(fd);
    public static int Rename(string from, string to) => rename(from, to);
    public static int Statx(int dirfd, string path, int flags, uint mask, byte* buf256) => statx(dirfd, path, flags, mask, buf256);
    public static int IoctlInt(int fd, nuint req, int* arg) => ioctl(fd, req, arg);

    /// <summary>clock_gettime as nanoseconds.</summary>
    public static long ClockNs(int clock)
    {
        long* ts = stackalloc long[2];
        if (clock_gettime(clock, ts) != 0) throw new InvalidOperationException($"clock_gettime({clock}): errno {LastErrno}");
        return ts[0] * 1_000_000_000L + ts[1];
    }

    public static string StrError(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
