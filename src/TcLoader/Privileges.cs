using Tap.Interop;

namespace Tap.TcLoader;

public static class Privileges
{
    public static void RequireRoot(string verb)
    {
        if (!Libc.IsRoot)
            throw new TapUsageException($"tcloader {verb}: must run as root (needs CAP_BPF and CAP_NET_ADMIN)", ExitCodes.NotRoot);
    }

    /// <summary>
    /// Maps a failed native call to the user's view: permission problems and a kernel without BPF
    /// get their own exit codes and a line that says what to do.
    /// </summary>
    public static (int Code, string Message) Classify(BpfException e) => e.Errno switch
    {
        1 or 13 => (ExitCodes.NotRoot, $"{e.Message}: permission denied; run as root (CAP_BPF, CAP_NET_ADMIN)"),
        38 => (ExitCodes.NoBpf, $"{e.Message}: this kernel has no BPF support (CONFIG_BPF_SYSCALL)"),
        95 or 524 => (ExitCodes.NoBpf, $"{e.Message}: not supported by this kernel"),
        _ => (ExitCodes.Failure, e.Message),
    };
}
