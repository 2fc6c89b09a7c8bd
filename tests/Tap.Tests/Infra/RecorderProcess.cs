using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Tap.Tests.Infra;

/// <summary>bin/recorder in the background: ready once it says "recorder: recording", stopped by a signal.</summary>
public sealed class RecorderProcess : IDisposable
{
    private readonly Process _p;
    private readonly System.Text.StringBuilder _out = new(), _err = new();
    private readonly ManualResetEventSlim _ready = new();
    public int Pid => _p.Id;

    public bool HasExited => _p.HasExited;

    /// <param name="cgroupProcs">a cgroup.procs file: the shell writes its own pid there, then execs the recorder (same pid).</param>
    public RecorderProcess(string args, string? cgroupProcs = null)
    {
        string file = TestEnv.Bin("recorder");
        var psi = cgroupProcs == null
            ? new ProcessStartInfo(file, args)
            : new ProcessStartInfo("/bin/sh", $"-c \"echo $$ > {cgroupProcs} && exec {file} {args}\"");
        psi.RedirectStandardError = psi.RedirectStandardOutput = true;
        psi.UseShellExecute = false;
        _p = new Process { StartInfo = psi };
        _p.ErrorDataReceived += (_, e) => { if (e.Data == null) return; lock (_err) _err.AppendLine(e.Data); if (e.Data.StartsWith("recorder: recording ")) _ready.Set(); };
        _p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_out) _out.AppendLine(e.Data); };
        _p.Start();
        _p.BeginErrorReadLine();
        _p.BeginOutputReadLine();
    }

    /// <summary>Starts the recorder and returns once it says it is recording.</summary>
    public static RecorderProcess StartReady(string args, string? cgroupProcs = null)
    {
        var r = new RecorderProcess(args, cgroupProcs);
        try { r.WaitReady(); }
        catch { r.Dispose(); throw; }
        return r;
    }

    /// <summary>SIGTERM after the last clones crossed the veth, a bounded wait, exit 0 expected.</summary>
    public void Stop(int ms = 30_000)
    {
        Thread.Sleep(300);
        Signal(15);
        int rc = WaitExit(ms);
        if (rc != 0) throw new InvalidOperationException($"recorder exited {rc}: {Stderr}");
    }

    public void WaitReady(int ms = 20_000)
    {
        if (!_ready.Wait(ms)) throw new TimeoutException("recorder did not start: " + Stderr);
    }

    public string Stderr { get { lock (_err) return _err.ToString(); } }
    public string Stdout { get { lock (_out) return _out.ToString(); } }

    [DllImport("libc", SetLastError = true)] private static extern int kill(int pid, int sig);
    public void Signal(int sig) => kill(_p.Id, sig);

    public int WaitExit(int ms = 30_000)
    {
        if (!_p.WaitForExit(ms)) throw new TimeoutException("recorder did not exit: " + Stderr);
        _p.WaitForExit();
        return _p.ExitCode;
    }

    public void Dispose()
    {
        try { if (!_p.HasExited) { _p.Kill(); _p.WaitForExit(10_000); } } catch (InvalidOperationException) { }
        _p.Dispose();
    }
}
