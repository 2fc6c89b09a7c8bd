using System.Text.Json;
using Tap.Interop;
using Tap.TcLoader.Hooks;
using Tap.TcLoader.State;

namespace Tap.TcLoader.Commands;

/// <summary>
/// status [--json]: what is attached where, checked against the kernel (bpftool net does not list
/// TCX links, so this is the place to look). Exit 0 when every hook is in place, 1 when one is not
/// (an interface was deleted, a link went defunct), 5 when nothing is attached.
/// </summary>
public static class StatusCommand
{
    public static int Run(TapPaths paths, bool json, TextWriter stdout)
    {
        var state = TapState.Load(paths);
        if (state == null)
        {
            if (json) stdout.WriteLine(JsonSerializer.Serialize(new { attached = false }));
            else stdout.WriteLine("not attached");
            return ExitCodes.NotAttached;
        }
        string mode = "unknown";
        try
        {
            using var config = TapMaps.Config(paths);
            if (config.TryLookup(0, out var cfg)) mode = ((TapMode)cfg.Mode).ToString().ToLowerInvariant();
        }
        catch (BpfException) { mode = "maps missing"; }

        var hooks = state.Hooks.Select(h => (Hook: h, Status: Backends.Owner(h).Inspect(h, paths))).ToList();
        // A recorder interface that went away turns every clone into a clone error (EINVAL): say so.
        bool recorderPresent = state.Recorder == null || NetDev.Exists(state.Recorder);
        bool healthy = state.Complete && hooks.All(x => x.Status.Attached) && recorderPresent;
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["attached"] = true,
                ["healthy"] = healthy,
                ["complete"] = state.Complete,
                ["path"] = state.Path,
                ["mode"] = mode,
                ["recorder"] = state.Recorder,
                ["recorder_present"] = recorderPresent,
                ["attached_at"] = state.AttachedAt,
                ["directions"] = state.Directions.Select(d => new Dictionary<string, object?>
                {
                    ["ingress"] = d.Ingress, ["egress"] = d.Egress, ["recorder"] = d.Record ? d.Recorder : null,
                    ["reverse"] = d.Reverse, ["slot"] = d.Slot,
                }),
                ["hooks"] = hooks.Select(x => new Dictionary<string, object?>
                {
                    ["interface"] = x.Hook.Ifname, ["ifindex"] = x.Hook.Ifindex, ["kind"] = x.Hook.Kind,
                    ["program"] = x.Hook.Program, ["pin"] = x.Hook.LinkPin, ["interface_present"] = x.Status.InterfacePresent,
                    ["attached"] = x.Status.Attached, ["prog_id"] = x.Status.ProgId, ["detail"] = x.Status.Detail,
                }),
            }));
        }
        else
        {
            stdout.WriteLine($"{state.Path} path, mode {mode}{(state.Complete ? "" : " (attach did not finish: run attach or detach again)")}");
            foreach (var d in state.Directions)
                stdout.WriteLine($"  {d.Ingress} -> {d.Egress}{(d.Record ? $"  +clone to {d.Recorder}" : "")}{(d.Reverse ? "  (reverse)" : "")}");
            if (!recorderPresent) stdout.WriteLine($"  recorder {state.Recorder}: INTERFACE GONE (clones fail and are counted as clone_errors)");
            foreach (var (h, s) in hooks)
                stdout.WriteLine($"  hook {h.Ifname,-15} {h.Kind,-11} {(s.Attached ? "attached" : s.InterfacePresent ? "NOT ATTACHED" : "INTERFACE GONE")}  prog {s.ProgId}  {s.Detail}");
        }
        return healthy ? ExitCodes.Ok : ExitCodes.Failure;
    }
}
