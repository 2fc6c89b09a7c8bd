using System.Text.Json;
using Tap.Interop;

namespace Tap.Tests.Infra;

/// <summary>
/// Runs bin/tcloader with pins and state of the test's own (TAP_PIN_DIR, TAP_STATE_DIR), so tests never
/// touch a user's live tap. Dispose detaches whatever is still attached and checks nothing is left.
/// </summary>
public sealed class Tcloader : IDisposable
{
    public string PinDir { get; }
    public string StateDir { get; }
    public Dictionary<string, string> Env { get; }

    public Tcloader(string tag)
    {
        PinDir = $"/sys/fs/bpf/tcloader-test-{tag}";
        StateDir = $"/run/tcloader-test-{tag}";
        Env = new() { ["TAP_PIN_DIR"] = PinDir, ["TAP_STATE_DIR"] = StateDir };
    }

    public RunResult Run(string args, int timeoutMs = 60_000) => Infra.Run.Cmd(TestEnv.Bin("tcloader"), args, timeoutMs, Env);

    public RunResult MustRun(string args)
    {
        var r = Run(args);
        if (r.ExitCode != 0) throw new InvalidOperationException($"tcloader {args} failed: {r}");
        return r;
    }

    public JsonElement StatsJson() => JsonDocument.Parse(MustRun("stats --json").Stdout).RootElement;
    public JsonElement StatusJson() => JsonDocument.Parse(Run("status --json").Stdout).RootElement;

    public void Dispose()
    {
        Run("detach");
        if (Directory.Exists(PinDir)) Directory.Delete(PinDir, true);
        if (Directory.Exists(StateDir)) Directory.Delete(StateDir, true);
    }
}

/// <summary>
/// What the kernel holds of ours: compared before attach and after detach. Programs and maps are
/// counted by the project's names (tc_clone, xdp_*, tap_*), so another process's BPF use on a shared
/// machine cannot blur the comparison; links are counted on the test's interfaces and by program name.
/// </summary>
public sealed record KernelSnapshot(int Programs, int Maps, int Links, string TcState)
{
    private static readonly string[] ProgNames = ["tc_clone", "xdp_pass", "xdp_redirect", "xdp_clone", "xdp_xsk"];

    /// <summary>
    /// A snapshot once the kernel has finished freeing what earlier tests released: programs and maps
    /// go away after an RCU grace period, not when the detaching call returns.
    /// </summary>
    public static KernelSnapshot Settled(params string[] ifaces)
    {
        var a = Take(ifaces);
        for (int i = 0; i < 50; i++)
        {
            Thread.Sleep(100);
            var b = Take(ifaces);
            if (a == b) return b;
            a = b;
        }
        return a;
    }

    /// <summary>Waits (bounded) for the kernel to be back at <paramref name="before"/>, then asserts it.</summary>
    public static void AssertBackTo(KernelSnapshot before, params string[] ifaces)
    {
        var end = DateTime.UtcNow.AddSeconds(10);
        var now = Take(ifaces);
        while (now != before && DateTime.UtcNow < end)
        {
            Thread.Sleep(100);
            now = Take(ifaces);
        }
        Xunit.Assert.Equal(before, now);
    }

    public static KernelSnapshot Take(params string[] ifaces)
    {
        var ours = BpfIntrospect.Programs().Where(p => ProgNames.Contains(p.Name)).ToList();
        var ourIds = ours.Select(p => p.Id).ToHashSet();
        var idx = ifaces.Select(i => NetDev.TryIndex(i, out int x) ? x : -1).ToHashSet();
        var tc = string.Join("\n", ifaces.Select(i =>
            Run.Cmd("tc", $"qdisc show dev {i}").Stdout + Run.Cmd("tc", $"filter show dev {i} ingress").Stdout +
            Run.Cmd("ip", $"-d link show dev {i}").Stdout.Split('\n').FirstOrDefault(l => l.Contains("xdp")) ));
        return new KernelSnapshot(ours.Count, BpfIntrospect.Maps().Count(m => m.Name.StartsWith("tap_", StringComparison.Ordinal)),
            BpfIntrospect.Links().Count(l => ourIds.Contains(l.ProgId) || idx.Contains(l.Ifindex)), tc);
    }
}
