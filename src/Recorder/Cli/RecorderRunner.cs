using System.Diagnostics;
using System.Runtime.InteropServices;
using Tap.Interop;
using Tap.Recorder.Capture;
using Tap.Recorder.Metrics;
using Tap.Recorder.Sources;

namespace Tap.Recorder.Cli;

/// <summary>
/// Runs one recording: checks the input, opens the source, starts one capture thread per channel
/// (each with its own CaptureWriter; with more than one channel the file prefix gets "-qN"),
/// prints counters every interval, and on SIGINT/SIGTERM/--duration stops in this order:
/// source ingress off (AF_XDP: program detached), capture threads drain and return, writers
/// Complete() (every file a valid capture, renamed from .part), source closed, --stats-json written.
/// </summary>
public static class RecorderRunner
{
    public static int Run(RecorderOptions o, TextWriter stdout, TextWriter stderr)
    {
        int ifindex = NetDev.Index(o.Interface);
        CheckOutputDir(o.OutputDir);
        if (o.StatsJson is { } sj && Path.GetDirectoryName(Path.GetFullPath(sj)) is { } sjd && !Directory.Exists(sjd))
            throw new TapUsageException($"--stats-json: directory '{sjd}' does not exist", ExitCodes.Disk);
        if (o.MetricsFile is { } mf && Path.GetDirectoryName(Path.GetFullPath(mf)) is { } mfd && !Directory.Exists(mfd))
            throw new TapUsageException($"--metrics-file: directory '{mfd}' does not exist", ExitCodes.Disk);
        if (!Libc.IsRoot)
            throw new TapUsageException("must run as root (AF_PACKET/AF_XDP sockets and BPF need CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF)", ExitCodes.NotRoot);

        using ICaptureSource source = OpenSource(o, ifindex);
        var writers = new CaptureWriter[source.Channels];
        try
        {
            for (int i = 0; i < writers.Length; i++)
                writers[i] = new CaptureWriter(new CaptureOptions(o.OutputDir, o.Format, o.Lz4, o.Snaplen, o.RotateSizeBytes, o.RotateSeconds,
                    o.Interface, FilePrefix: writers.Length > 1 ? $"capture-q{i}" : "capture", Blocks: MemoryBudget.WriterBlocks(writers.Length)));
            return Record(o, source, writers, stdout, stderr);
        }
        finally
        {
            foreach (var w in writers) w?.Dispose();
        }
    }

    private static void CheckOutputDir(string dir)
    {
        if (!Directory.Exists(dir)) throw new TapUsageException($"--output: directory '{dir}' does not exist", ExitCodes.Disk);
        const int W_OK = 2, X_OK = 1;
        if (Libc.access(dir, W_OK | X_OK) != 0) throw new TapUsageException($"--output: directory '{dir}' is not writable", ExitCodes.Disk);
        string probe = Path.Combine(dir, $".recorder-probe-{Environment.ProcessId}");
        try { File.WriteAllBytes(probe, []); File.Delete(probe); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TapUsageException($"--output: cannot create a file in '{dir}': {e.Message}", ExitCodes.Disk);
        }
    }

    private static ICaptureSource OpenSource(RecorderOptions o, int ifindex)
    {
        if (o.Source == SourceKind.AfPacket)
            return new AfPacketSource(ifindex, o.Queues, blocks: MemoryBudget.RingBlocks(o.Queues, AfPacketSource.DefaultBlockSize));

        int rxq = Directory.Exists($"/sys/class/net/{o.Interface}/queues")
            ? Directory.GetDirectories($"/sys/class/net/{o.Interface}/queues", "rx-*").Length : 1;
        if (o.Queues > rxq)
            throw new TapUsageException($"--queues: {o.Interface} has {rxq} rx queue(s), {o.Queues} asked");
        string obj = BpfObjects.Find(AfXdpSource.ObjectName)
            ?? throw new TapUsageException($"BPF object {AfXdpSource.ObjectName} not found (set TAP_BPF_DIR or run make bpf)", ExitCodes.NoBpf);
        try { return new AfXdpSource(obj, ifindex, o.Queues); }
        catch (BpfException e) when (e.Call.StartsWith("bpf_object__") || (e.Call == "socket" && e.Errno == 97 /* EAFNOSUPPORT */))
        {
            throw new TapUsageException($"no BPF/AF_XDP support: {e.Message}", ExitCodes.NoBpf);
        }
    }

    private static int Record(RecorderOptions o, ICaptureSource source, CaptureWriter[] writers, TextWriter stdout, TextWriter stderr)
    {
        using var stopCts = new CancellationTokenSource();      // signal or --duration
        using var captureCts = new CancellationTokenSource();   // capture threads: cancelled after ingress is off
        void OnSignal(PosixSignalContext ctx) { ctx.Cancel = true; try { stopCts.Cancel(); } catch (ObjectDisposedException) { } }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        if (o.DurationSeconds > 0) stopCts.CancelAfter(TimeSpan.FromSeconds(o.DurationSeconds));

        var clock = Stopwatch.StartNew();
        var info = new Dictionary<string, string>();
        if (source is AfXdpSource xs) { info["xdp_mode"] = xs.XdpMode; info["bind_mode"] = xs.BindMode; }
        ulong? ifDrops0 = NetDev.Counter(o.Interface, "rx_dropped");

        StatsSnapshot Snap()
        {
            long frames = 0, bytes = 0, qd = 0, we = 0, wed = 0, df = 0, backlog = 0, fb = 0;
            double age = 0;
            bool full = false;
            var files = new List<string>();
            foreach (var w in writers)
            {
                var s = w.Stats;
                frames += s.Frames; bytes += s.Bytes; qd += s.QueueDrops; we += s.WriteErrors; wed += s.WriteErrorDrops; df += s.DiskFullDrops;
                backlog += s.BacklogBytes; fb += s.FileBytesWritten; age = Math.Max(age, s.LastWriteAgeSeconds); full |= s.DiskFull;
                files.AddRange(s.Files);
            }
            var ss = source.Stats();
            var extra = new Dictionary<string, long>(ss.Extra) { ["write_error_events"] = we };
            if (ifDrops0 is { } d0 && NetDev.Counter(o.Interface, "rx_dropped") is { } d1) extra["iface_rx_dropped"] = (long)(d1 - d0);
            return new StatsSnapshot(o.Interface, source.Name, clock.Elapsed.TotalSeconds, frames, bytes, ss.Received,
                ss.SocketDrops, qd, df, wed, backlog, age, fb, full, files, extra, info);
        }

        Exception? failure = null;
        var threads = new Thread[source.Channels];
        for (int i = 0; i < threads.Length; i++)
        {
            int ch = i;
            threads[i] = new Thread(() =>
            {
                try { source.Run(ch, writers[ch], captureCts.Token); }
                catch (Exception e) { Interlocked.CompareExchange(ref failure, e, null); try { stopCts.Cancel(); } catch (ObjectDisposedException) { } }
            }) { IsBackground = true, Name = $"capture-{ch}", Priority = ThreadPriority.AboveNormal };
            threads[i].Start();
        }

        using var server = o.Metrics is { } ep ? StartServer(ep, () => Snap().ToPrometheus()) : null;
        // Generic XDP skips every skb marked as redirected (net/core/dev.c, netif_receive_generic_xdp), and
        // bpf_clone_redirect marks the clones tc_clone sends: behind the TC path such a recorder sees nothing.
        if (source is AfXdpSource { XdpMode: "generic" })
            stderr.WriteLine($"recorder: warning: {o.Interface} runs AF_XDP in generic XDP mode, which ignores frames cloned by tc_clone; use --source afpacket behind the TC path");
        // One line when the source is live (tests and scripts wait for it).
        stderr.WriteLine($"recorder: recording {o.Interface} via {source.Name}" +
            (source is AfXdpSource x ? $" (xdp {x.XdpMode}, bind {x.BindMode})" : "") +
            $", {source.Channels} channel(s), {o.Format.ToString().ToLowerInvariant()}{(o.Lz4 ? "+lz4" : "")} -> {o.OutputDir}");
        StatsSnapshot? prev = null;
        var interval = TimeSpan.FromSeconds(o.StatsIntervalSeconds);
        int ifindex = NetDev.TryIndex(o.Interface, out int ix) ? ix : 0;
        bool interfaceGone = false;
        var nextStats = clock.Elapsed + interval;
        // Wake every second: a deleted interface must end the recording (files closed, non-zero exit)
        // instead of leaving a recorder that silently captures nothing.
        while (!stopCts.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(Math.Min(1, o.StatsIntervalSeconds))))
        {
            if (!NetDev.TryIndex(o.Interface, out int now) || now != ifindex)
            {
                interfaceGone = true;
                stderr.WriteLine($"recorder: interface {o.Interface} is gone; closing the files");
                break;
            }
            if (clock.Elapsed < nextStats) continue;
            nextStats = clock.Elapsed + interval;
            var s = Snap();
            if (o.Json) stdout.WriteLine(s.ToJson(final: false)); else stderr.WriteLine(s.ToHumanLine(prev));
            if (o.MetricsFile is { } mf) TryWriteMetricsFile(mf, s, stderr);
            prev = s;
        }

        // Stop: ingress off first (AF_XDP: detach before the sockets go, suricata#9333), then drain.
        source.StopIngress();
        captureCts.Cancel();
        foreach (var t in threads)
            if (!t.Join(TimeSpan.FromSeconds(10))) stderr.WriteLine($"recorder: {t.Name} did not stop within 10 s");
        foreach (var w in writers) w.Complete();

        var final = Snap();
        if (o.Json) stdout.WriteLine(final.ToJson(final: false)); else stderr.WriteLine(final.ToHumanLine(prev));
        if (o.MetricsFile is { } mf2) TryWriteMetricsFile(mf2, final, stderr);
        if (o.StatsJson is { } path)
        {
            string tmp = path + ".tmp";
            File.WriteAllText(tmp, final.ToJson(final: true) + "\n");
            File.Move(tmp, path, overwrite: true);
        }
        if (failure != null && !interfaceGone)
        {
            stderr.WriteLine($"recorder: capture failed: {failure.Message}");
            return ExitCodes.Failure;
        }
        return interfaceGone ? ExitCodes.Failure : ExitCodes.Ok;
    }

    private static MetricsServer StartServer(System.Net.IPEndPoint ep, Func<string> render)
    {
        try { return new MetricsServer(ep, render); }
        catch (System.Net.Sockets.SocketException e) { throw new TapUsageException($"--metrics: cannot listen on {ep}: {e.Message}"); }
    }

    private static void TryWriteMetricsFile(string path, StatsSnapshot s, TextWriter stderr)
    {
        try { MetricsTextfile.Write(path, s.ToPrometheus()); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { stderr.WriteLine($"recorder: --metrics-file: {e.Message}"); }
    }
}
