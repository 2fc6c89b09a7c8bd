using Tap.Interop;

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

    public TapPaths(string? pinDir = null, string? stateDir = null)
    {
        PinDir = pinDir ?? Environment.GetEnvironmentVariable("TAP_PIN_DIR") ?? "/sys/fs/bpf/tcloader";
        StateDir = stateDir ?? Environment.GetEnvironmentVariable("TAP_STATE_DIR") ?? "/run/tcloader";
    }

    /// <summary>The object's path; where it is missing, the path BpfObject.Open then names in its error.</summary>
    public string Object(string name) => BpfObjects.Find(name) ?? Path.Combine(AppContext.BaseDirectory, "bpf", name);
}
