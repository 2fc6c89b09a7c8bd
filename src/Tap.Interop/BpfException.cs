using System.Runtime.InteropServices;

namespace Tap.Interop;

/// <summary>A failed native call, named, with its errno. <see cref="Errno"/> is positive.</summary>
public class BpfException : IOException
{
    public string Call { get; }
    public int Errno { get; }

    public BpfException(string call, int errno, string? detail = null)
        : base($"{call}: {Describe(errno)}{(detail is null ? "" : $" ({detail})")}")
    {
        Call = call;
        Errno = errno;
        HResult = errno;
    }

    public static string Describe(int errno) => errno switch
    {
        0 => "unknown error",
        _ => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})",
    };

    /// <summary>Turns a libbpf-style return (negative errno) into an exception that names the call.</summary>
    public static int Check(int ret, string call, string? detail = null)
    {
        if (ret < 0) throw new BpfException(call, -ret, detail);
        return ret;
    }

    /// <summary>For libc-style returns: -1 and errno.</summary>
    public static int CheckErrno(int ret, string call, string? detail = null)
    {
        if (ret < 0) throw new BpfException(call, Marshal.GetLastPInvokeError(), detail);
        return ret;
    }

    public static long CheckErrno(long ret, string call, string? detail = null)
    {
        if (ret < 0) throw new BpfException(call, Marshal.GetLastPInvokeError(), detail);
        return ret;
    }
}

/// <summary>A user-caused error: one line for stderr and an exit code that says what kind.</summary>
public sealed class TapUsageException(string message, int exitCode = ExitCodes.Usage) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>Exit codes shared by both commands; scripts may rely on them.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;       // a native call failed
    public const int Usage = 2;         // bad arguments, unknown interface, pair loop ...
    public const int NotRoot = 3;       // needs CAP_NET_ADMIN / CAP_BPF
    public const int NoBpf = 4;         // the kernel or libbpf cannot do what is asked
    public const int NotAttached = 5;   // status/stats/mode with nothing attached
    public const int Disk = 6;          // output directory missing, unwritable or full
}
