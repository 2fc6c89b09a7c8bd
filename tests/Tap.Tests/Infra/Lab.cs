using System.Text.Json;

namespace Tap.Tests.Infra;

/// <summary>
/// A lab built by tools/lab/lab.sh under a prefix of the test's own, torn down on Dispose
/// even when the test failed. Interface names follow lab.sh: PREFIXin0/PREFIXout0 in the root
/// namespace, PREFIXl0 in PREFIXleft, PREFIXr0 in PREFIXright, PREFIXrec0 -> PREFIXrec0p.
/// </summary>
public sealed class Lab : IDisposable
{
    public string Prefix { get; }
    public int Pairs { get; }
    public int Mtu { get; }
    public string LeftNs => Prefix + "left";
    public string RightNs => Prefix + "right";
    public string In(int i) => $"{Prefix}in{i}";
    public string Out(int i) => $"{Prefix}out{i}";
    public string Left(int i) => $"{Prefix}l{i}";
    public string Right(int i) => $"{Prefix}r{i}";
    public string Rec => Prefix + "rec0";
    public string RecPeer => Prefix + "rec0p";
    public static string Mac(int pair, int side) => $"02:74:61:70:{pair:x2}:{side:x2}";

    public Lab(string prefix, int pairs = 1, int mtu = 1500)
    {
        Prefix = prefix; Pairs = pairs; Mtu = mtu;
        var r = Run.Cmd(TestEnv.Tool("tools/lab/lab.sh"), $"up --prefix {prefix} --pairs {pairs} --mtu {mtu}", 60_000);
        if (r.ExitCode != 0) { Dispose(); throw new InvalidOperationException("lab up failed: " + r); }
    }

    public void Dispose() => Run.Cmd(TestEnv.Tool("tools/lab/lab.sh"), $"down --prefix {Prefix}", 60_000);

    /// <summary>Starts a sink in the right namespace on pair i and waits until it listens.</summary>
    public SinkProcess StartSink(int pair, long count, string sizeSpec, int stream = 0, string? ns = null, string? iface = null, int timeoutSec = 60, bool reverse = false)
    {
        string ready = Path.Combine(Path.GetTempPath(), $"tapsink-{Guid.NewGuid():N}");
        // ns "" means the root namespace (the recorder link lives there).
        string args = $"sink --iface {iface ?? Right(pair)} --count {count} --size {sizeSpec} --stream {stream} --timeout {timeoutSec} --idle-ms 3000 --ready-file {ready}" +
            $" --src-mac {Mac(pair, reverse ? 2 : 1)} --dst-mac {Mac(pair, reverse ? 1 : 2)}";
        var p = ns == "" ? Run.Start(TestEnv.Tapgen, args) : Run.Start("ip", $"netns exec {ns ?? RightNs} {TestEnv.Tapgen} {args}");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!File.Exists(ready))
        {
            if (p.HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException("sink did not become ready: " + Run.Wait(p, 1000));
            Thread.Sleep(20);
        }
        File.Delete(ready);
        return new SinkProcess(p);
    }

    /// <summary>Sends numbered frames from the left namespace on pair i; returns tapgen's JSON.</summary>
    public JsonElement Send(int pair, long count, string sizeSpec, int pps, int stream = 0, string extra = "", bool reverse = false)
    {
        string ns = reverse ? RightNs : LeftNs, iface = reverse ? Right(pair) : Left(pair);
        int src = reverse ? 2 : 1, dst = reverse ? 1 : 2;
        var r = Run.Cmd("ip", $"netns exec {ns} {TestEnv.Tapgen} send --iface {iface} --count {count} --size {sizeSpec} --pps {pps} --stream {stream} --src-mac {Mac(pair, src)} --dst-mac {Mac(pair, dst)} --duration-max 60 {extra}", 90_000);
        if (r.ExitCode != 0) throw new InvalidOperationException("tapgen send failed: " + r);
        return JsonDocument.Parse(r.Stdout.Trim().Split('\n')[^1]).RootElement;
    }
}

public sealed class SinkProcess(System.Diagnostics.Process p) : IDisposable
{
    public (RunResult Run, JsonElement Json) Wait(int timeoutMs = 90_000)
    {
        var r = Run.Wait(p, timeoutMs);
        var line = r.Stdout.Trim().Split('\n')[^1];
        return (r, JsonDocument.Parse(line).RootElement);
    }

    public void Dispose()
    {
        try { if (!p.HasExited) { p.Kill(); p.WaitForExit(); } } catch (InvalidOperationException) { }
        p.Dispose();
    }
}
