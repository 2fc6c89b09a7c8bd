using Tap.Interop;
using Tap.TcLoader.Hooks;
using Tap.TcLoader.State;

namespace Tap.TcLoader.Commands;

/// <summary>detach: removes every program, link, filter, qdisc it made and every pin, then the state.</summary>
public static class DetachCommand
{
    public static int Run(TapPaths paths, TextWriter stdout, TextWriter stderr)
    {
        Privileges.RequireRoot("detach");
        var state = TapState.Load(paths);
        if (state == null && !Directory.Exists(paths.PinDir))
        {
            stdout.WriteLine("nothing attached");
            return ExitCodes.Ok;
        }
        var (removed, failures) = RemoveAll(state ?? new TapState(), paths, stderr);
        stdout.WriteLine($"detached {removed} hook(s)");
        return failures == 0 ? ExitCodes.Ok : ExitCodes.Failure;
    }

    /// <summary>Best effort over every hook: one failure does not keep the others attached.</summary>
    public static (int Removed, int Failures) RemoveAll(TapState state, TapPaths paths, TextWriter log)
    {
        int removed = 0, failures = 0;
        var hooks = state.Hooks.Concat(Backends.OrphanPins(paths, state.Hooks).ToList()).ToList();
        foreach (var hook in hooks)
        {
            try
            {
                Backends.Owner(hook).Detach(hook, paths, log);
                removed++;
            }
            catch (Exception e) when (e is BpfException or IOException or InvalidOperationException)
            {
                failures++;
                log.WriteLine($"tcloader: detach {hook.Ifname} ({hook.Kind}): {e.Message}");
            }
        }
        if (Directory.Exists(paths.PinDir)) Directory.Delete(paths.PinDir, recursive: true);
        TapState.Delete(paths);
        return (removed, failures);
    }
}
