using System.Diagnostics;

namespace Tap.Tests.Infra;

/// <summary>bin/recorder in the background, started and waited for until it says it is recording; stopped with SIGTERM.</summary>
public sealed class RecorderProcess : IDisposable
{
    private readonly Process _p;
    public RunResult? Result { get; private set; }

    private RecorderProcess(Process p) => _p = p;

    public static RecorderProcess Start(string iface, string outDir, string extra = "")
    {
        var p = Run.Start(TestEnv.Bin("recorder"), $"--interface {iface} --output {outDir} --duration 120 {extra}");
        var end = DateTime.UtcNow.AddSeconds(20);
        while (!Run.PeekStderr(p).Contains("recorder: recording"))
        {
            if (p.HasExited || DateTime.UtcNow > end)
                throw new InvalidOperationException("recorder did not start: " + Run.Wait(p, 5000));
            Thread.Sleep(20);
        }
        return new RecorderProcess(p);
    }

    public RunResult Stop()
    {
        if (Result != null) return Result;
        Thread.Sleep(300); // let the last clones cross the veth
        Run.Cmd("kill", $"-TERM {_p.Id}");
        Result = Run.Wait(_p, 30_000);
        if (Result.ExitCode != 0) throw new InvalidOperationException("recorder exited non-zero: " + Result);
        return Result;
    }

    public void Dispose()
    {
        try { if (!_p.HasExited) { _p.Kill(); _p.WaitForExit(); } } catch (InvalidOperationException) { }
    }
}
