using System.Diagnostics;
using Tap.Interop;

[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]

namespace Tap.Tests.Infra;

/// <summary>Where the repository's built artefacts are, and whether root-only tests may run.</summary>
public static class TestEnv
{
    public static string RepoRoot { get; } = FindRoot();
    public static string Bin(string name) => Path.Combine(RepoRoot, "bin", name);
    public static string BpfObject(string name) => Path.Combine(RepoRoot, "bpf", name);
    public static string Tool(string rel) => Path.Combine(RepoRoot, rel);
    public static string Tapgen => Path.Combine(RepoRoot, "build", "tapgen");

    public static bool IsRoot => Libc.IsRoot;
    public static bool RootRequired => Environment.GetEnvironmentVariable("TAP_REQUIRE_ROOT") == "1";

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "bpf", "tap.h"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root (bpf/tap.h) not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>
/// A test that needs root (BPF, namespaces). It skips with a reason on a plain user's machine;
/// under TAP_REQUIRE_ROOT=1 (CI) it runs anyway, so a missing privilege fails instead of skipping.
/// </summary>
public sealed class RootFactAttribute : Xunit.FactAttribute
{
    public RootFactAttribute()
    {
        if (!TestEnv.IsRoot && !TestEnv.RootRequired)
            Skip = "needs root (BPF and network namespaces); CI runs it with TAP_REQUIRE_ROOT=1";
    }
}

public sealed class RootTheoryAttribute : Xunit.TheoryAttribute
{
    public RootTheoryAttribute()
    {
        if (!TestEnv.IsRoot && !TestEnv.RootRequired)
            Skip = "needs root (BPF and network namespaces); CI runs it with TAP_REQUIRE_ROOT=1";
    }
}

public sealed record RunResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>Runs a command with a hard time limit; kills only the process it started, by its pid.</summary>
public static class Run
{
    public static RunResult Cmd(string file, string args, int timeoutMs = 120_000, IDictionary<string, string>? env = null)
    {
        using var p = Start(file, args, env);
        return Wait(p, timeoutMs);
    }

    /// <summary>Runs through bash -c, for pipelines and `ip netns exec`.</summary>
    public static RunResult Sh(string script, int timeoutMs = 120_000) => Cmd("/bin/bash", $"-c \"{script.Replace("\\", "\\\\").Replace("\"", "\\\"")}\"", timeoutMs);

    public static Process Start(string file, string args, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (env != null) foreach (var (k, v) in env) psi.Environment[k] = v;
        var p = new Process { StartInfo = psi };
        var so = new System.Text.StringBuilder();
        var se = new System.Text.StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (so) so.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (se) se.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        Outputs[p.Id] = (so, se);
        return p;
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, (System.Text.StringBuilder, System.Text.StringBuilder)> Outputs = new();

    /// <summary>What a running process has written to stderr so far.</summary>
    public static string PeekStderr(Process p)
    {
        if (!Outputs.TryGetValue(p.Id, out var o)) return "";
        lock (o.Item2) return o.Item2.ToString();
    }

    public static RunResult Wait(Process p, int timeoutMs = 120_000)
    {
        if (!p.WaitForExit(timeoutMs))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
            Outputs.TryRemove(p.Id, out var o1);
            throw new TimeoutException($"{p.StartInfo.FileName} {p.StartInfo.Arguments} did not finish in {timeoutMs} ms\n{o1.Item1}\n{o1.Item2}");
        }
        p.WaitForExit(); // drains the async readers
        Outputs.TryRemove(p.Id, out var o);
        string so, se;
        lock (o.Item1) so = o.Item1.ToString();
        lock (o.Item2) se = o.Item2.ToString();
        return new RunResult(p.ExitCode, so, se);
    }
}
