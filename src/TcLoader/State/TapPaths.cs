namespace Tap.TcLoader.State;

/// <summary>
/// Where tcloader keeps what outlives it. Pins live under bpffs (they die with a reboot, as does /run);
/// TAP_PIN_DIR and TAP_STATE_DIR move both, so tests can run beside a user's live tap.
/// </summary>
public sealed class TapPaths
{
    public string PinDir { get; }
    public string StateDir { get; }
    public string MapDir => Path.Combine(PinDir, "maps");
    public string LinkDir => Path.Combine(PinDir, "links");
    public string ProgDir => Path.Combine(PinDir, "progs");
    public string StateFile => Path.Combine(StateDir, "state.json");
    public string BpfDir { get; }

    public TapPaths(string? pinDir = null, string? stateDir = null, string? bpfDir = null)
    {
        PinDir = pinDir ?? Environment.GetEnvironmentVariable("TAP_PIN_DIR") ?? "/sys/fs/bpf/tcloader";
        StateDir = stateDir ?? Environment.GetEnvironmentVariable("TAP_STATE_DIR") ?? "/run/tcloader";
        BpfDir = bpfDir ?? FindBpfDir();
    }

    public string Object(string name) => Path.Combine(BpfDir, name);

    private static string FindBpfDir()
    {
        var env = Environment.GetEnvironmentVariable("TAP_BPF_DIR");
        if (!string.IsNullOrEmpty(env)) return env;
        var local = Path.Combine(AppContext.BaseDirectory, "bpf");
        if (File.Exists(Path.Combine(local, "tc_clone.o"))) return local;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "bpf", "tc_clone.o"))) return Path.Combine(d.FullName, "bpf");
        return local;
    }
}
