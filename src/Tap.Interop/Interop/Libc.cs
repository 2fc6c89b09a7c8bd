using System.Runtime.InteropServices;

namespace Tap.Interop;

/// <summary>
/// libc through source-generated P/Invoke. This partial class is split by concern:
/// Libc.cs (descriptors, interfaces, mounts); other files add sockets, files and memory.
/// </summary>
public static unsafe partial class Libc
{
    internal const string Lib = "libc";

    // int close(int fd);
    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    internal static partial int close(int fd);

    // unsigned int if_nametoindex(const char *ifname);
    [LibraryImport(Lib, EntryPoint = "if_nametoindex", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial uint if_nametoindex(string name);

    // char *if_indextoname(unsigned int ifindex, char *ifname);
    [LibraryImport(Lib, EntryPoint = "if_indextoname", SetLastError = true)]
    internal static partial nint if_indextoname(uint ifindex, byte* buf);

    // uid_t geteuid(void);
    [LibraryImport(Lib, EntryPoint = "geteuid")]
    internal static partial uint geteuid();

    // int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data);
    [LibraryImport(Lib, EntryPoint = "mount", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int mount(string source, string target, string fstype, nuint flags, nint data);

    public static bool IsRoot => geteuid() == 0;
}

/// <summary>A file descriptor owned by managed code: closed exactly once.</summary>
public sealed class FdHandle : SafeHandle
{
    public FdHandle() : base(-1, ownsHandle: true) { }
    public FdHandle(int fd, bool ownsHandle = true) : base(-1, ownsHandle) => SetHandle(fd);

    public int Fd => (int)handle;
    public override bool IsInvalid => (int)handle < 0;
    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;

    /// <summary>Wraps a libbpf return: a descriptor, or a negative errno that becomes a typed exception.</summary>
    public static FdHandle FromLibbpf(int ret, string call, string? detail = null) =>
        new(BpfException.Check(ret, call, detail));
}

/// <summary>A struct bpf_object *, closed with bpf_object__close (which also closes its maps and programs).</summary>
public sealed class BpfObjectHandle : SafeHandle
{
    public BpfObjectHandle() : base(0, ownsHandle: true) { }
    public override bool IsInvalid => handle == 0;
    protected override bool ReleaseHandle()
    {
        Libbpf.bpf_object__close(handle);
        return true;
    }
    internal void Set(nint h) => SetHandle(h);
}

public static unsafe partial class Libc
{
    // int dup(int oldfd);
    [LibraryImport(Lib, EntryPoint = "dup", SetLastError = true)]
    internal static partial int dup(int fd);
}
