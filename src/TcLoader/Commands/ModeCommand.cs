using Tap.Interop;
using Tap.TcLoader.State;

namespace Tap.TcLoader.Commands;

/// <summary>mode pass|forward|tap: one map write, seen by the next frame on every CPU; nothing is reloaded.</summary>
public static class ModeCommand
{
    public static int Run(string mode, TapPaths paths, TextWriter stdout)
    {
        var m = mode switch
        {
            "pass" => TapMode.Pass,
            "forward" => TapMode.Forward,
            "tap" => TapMode.Tap,
            _ => throw new TapUsageException($"unknown mode '{mode}': expected pass, forward or tap"),
        };
        Privileges.RequireRoot("mode");
        var state = TapState.Load(paths) ?? throw new TapUsageException("tcloader mode: nothing attached", ExitCodes.NotAttached);
        if (m == TapMode.Tap && state.Recorder == null)
            throw new TapUsageException("tcloader mode tap: attached without --recorder; nothing to clone to");
        using var config = TapMaps.Config(paths);
        config.TryLookup(0, out var cfg);
        var was = (TapMode)cfg.Mode;
        config.Update(0, cfg with { Mode = (uint)m });
        stdout.WriteLine($"mode {mode} (was {was.ToString().ToLowerInvariant()})");
        return ExitCodes.Ok;
    }
}
