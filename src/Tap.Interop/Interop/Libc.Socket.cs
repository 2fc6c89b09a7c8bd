using System.Runtime.InteropServices;

namespace Tap.Interop;

/// <summary>
/// libc: sockets, socket options, mmap and poll, for the recorder's AF_PACKET and AF_XDP sources.
/// Public because the recorder (another assembly) drives these sockets directly; every call
/// returns -1 and sets errno, which <see cref="BpfException.CheckErrno(int,string,string?)"/> turns into a typed exception.
/// </summary>
public static unsafe partial class Libc
{
    public const int AF_PACKET = 17, AF_XDP = 44;
    public const int SOCK_RAW = 3;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOL_PACKET = 263, SOL_XDP = 283;
    public const int PROT_READ = 1, PROT_WRITE = 2;
    public const int MAP_SHARED = 1, MAP_LOCKED = 0x2000, MAP_POPULATE = 0x8000;
    public const short POLLIN = 1, POLLERR = 8;
    public static readonly nint MAP_FAILED = -1;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    // int socket(int domain, int type, int protocol);
    [LibraryImport(Lib, EntryPoint = "socket", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    // int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen);
    [LibraryImport(Lib, EntryPoint = "bind", SetLastError = true)]
    public static partial int bind(int fd, void* addr, uint addrlen);

    // int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen);
    [LibraryImport(Lib, EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int optname, void* optval, uint optlen);

    // int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen);
    [LibraryImport(Lib, EntryPoint = "getsockopt", SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int optname, void* optval, ref uint optlen);

    // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
    [LibraryImport(Lib, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);

    // int munmap(void *addr, size_t length);
    [LibraryImport(Lib, EntryPoint = "munmap", SetLastError = true)]
    public static partial int munmap(nint addr, nuint length);

    // int poll(struct pollfd *fds, nfds_t nfds, int timeout);
    [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint nfds, int timeoutMs);

    // ssize_t recvfrom(int sockfd, void *buf, size_t len, int flags, struct sockaddr *src_addr, socklen_t *addrlen);
    [LibraryImport(Lib, EntryPoint = "recvfrom", SetLastError = true)]
    public static partial nint recvfrom(int fd, void* buf, nuint len, int flags, void* addr, void* addrlen);

    // pid_t getpid(void);
    [LibraryImport(Lib, EntryPoint = "getpid")]
    public static partial int getpid();

    // int access(const char *pathname, int mode);
    [LibraryImport(Lib, EntryPoint = "access", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int access(string path, int mode);

    /// <summary>setsockopt with an unmanaged value, named in the exception on failure.</summary>
    public static void SetOpt<T>(int fd, int level, int opt, T value, string name) where T : unmanaged =>
        BpfException.CheckErrno(setsockopt(fd, level, opt, &value, (uint)sizeof(T)), "setsockopt", name);

    public static T GetOpt<T>(int fd, int level, int opt, string name) where T : unmanaged
    {
        T v = default;
        uint len = (uint)sizeof(T);
        BpfException.CheckErrno(getsockopt(fd, level, opt, &v, ref len), "getsockopt", name);
        return v;
    }
}

/// <summary>A mmap'd region, unmapped exactly once.</summary>
public sealed class MmapHandle : SafeHandle
{
    public nuint Length { get; }
    public MmapHandle(nint addr, nuint length) : base(Libc.MAP_FAILED, ownsHandle: true) { SetHandle(addr); Length = length; }
    public override bool IsInvalid => handle == Libc.MAP_FAILED || handle == 0;
    public unsafe byte* Pointer => (byte*)handle;
    protected override bool ReleaseHandle() => Libc.munmap(handle, Length) == 0;

    /// <summary>mmap of a socket's ring (or of anonymous memory with fd -1), as a typed exception on failure.</summary>
    public static MmapHandle Map(int fd, nuint length, long offset, string what, int extraFlags = 0)
    {
        nint p = Libc.mmap(0, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | extraFlags, fd, offset);
        if (p == Libc.MAP_FAILED) throw new BpfException("mmap", Marshal.GetLastPInvokeError(), what);
        return new MmapHandle(p, length);
    }
}

/// <summary>Page-aligned native memory (AF_XDP UMEM), freed exactly once; the owner frees it after the sockets using it are closed.</summary>
public sealed unsafe class AlignedMemoryHandle : SafeHandle
{
    public nuint Length { get; }
    public AlignedMemoryHandle(nuint length, nuint alignment) : base(0, ownsHandle: true)
    {
        Length = length;
        void* p = NativeMemory.AlignedAlloc(length, alignment);
        if (p == null) throw new OutOfMemoryException($"aligned allocation of {length} bytes");
        NativeMemory.Clear(p, length);
        SetHandle((nint)p);
    }
    public override bool IsInvalid => handle == 0;
    public byte* Pointer => (byte*)handle;
    protected override bool ReleaseHandle() { NativeMemory.AlignedFree((void*)handle); return true; }
}
