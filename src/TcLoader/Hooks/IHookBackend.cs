using Tap.TcLoader.Plan;
using Tap.TcLoader.State;

namespace Tap.TcLoader.Hooks;

/// <summary>What a hook looks like right now, as the kernel reports it.</summary>
public sealed record HookStatus(bool InterfacePresent, bool Attached, uint ProgId, string Detail);

/// <summary>
/// One way of putting the tap's program on ingress hooks. The shared maps are already populated
/// when Attach runs, so a program that goes live sees its configuration at once.
/// </summary>
public interface IHookBackend
{
    DataPath Path { get; }

    /// <summary>
    /// Loads the program(s), reusing the pinned shared maps, and puts them on every ingress in the plan,
    /// replacing in place (atomically) what an earlier attach left on the same interface.
    /// <paramref name="record"/> is called as soon as each hook exists and is pinned, so the state
    /// file knows about it even if the process dies right after.
    /// </summary>
    IReadOnlyList<HookRecord> Attach(AttachPlan plan, TapPaths paths, TapState previous, Action<HookRecord> record, TextWriter log);

    /// <summary>Undoes one hook this backend made. Tolerates the interface or the link being gone.</summary>
    void Detach(HookRecord hook, TapPaths paths, TextWriter log);

    HookStatus Inspect(HookRecord hook, TapPaths paths);

    /// <summary>Whether this backend made <paramref name="hook"/>.</summary>
    bool Owns(HookRecord hook);
}
