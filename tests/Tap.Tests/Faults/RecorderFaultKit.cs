using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.Faults;

/// <summary>
/// The tap and the recorder together for the fault and accounting tests: a lab under the test's own prefix,
/// tcloader attached IN0:OUT0 with the clone link REC0, and an output directory. Torn down on Dispose in the
/// reverse order of making, also after a failure.
/// </summary>
public sealed class TapRig : IDisposable
{
    public Lab Lab { get; }
    public Tcloader T { get; }
    public string OutDir { get; }
    private readonly List<string> _dirs = [];

    public TapRig(string prefix)
    {
        Lab = new Lab(prefix);
        try
        {
            T = new Tcloader(prefix);
            T.MustRun($"attach --pairs {Lab.In(0)}:{Lab.Out(0)} --recorder {Lab.Rec}");
            OutDir = NewDir();
        }
        catch { T?.Dispose(); Lab.Dispose(); throw; }
    }

    public string NewDir()
    {
        var d = Directory.CreateTempSubdirectory($"tapfault-{Lab.Prefix}-").FullName;
        _dirs.Add(d);
        return d;
    }

    public JsonElement Pair() => T.StatsJson().GetProperty("pairs")[0];

    public void Dispose()
    {
        T.Dispose();
        Lab.Dispose();
        foreach (var d in _dirs) try { Directory.Delete(d, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>bin/recorder as a child (optionally started inside a blkio cgroup), ready when it says "recorder: recording".</summary>
public static class Kit
{
    public static long L(JsonElement e, string k) => e.GetProperty(k).GetInt64();

    /// <summary>/sys/class/net/IF/statistics/NAME (root namespace).</summary>
    public static long IfStat(string iface, string name) =>
        (long)(Tap.Interop.NetDev.Counter(iface, name) ?? throw new InvalidOperationException($"no counter {name} on {iface}"));

    public static JsonElement StatsJson(string path)
    {
        Assert.True(File.Exists(path), $"stats json {path} missing");
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement;
    }

    /// <summary>Frames tcpdump -r reads from the file; it must read it without complaint.</summary>
    public static long TcpdumpCount(string file)
    {
        var err = Path.GetTempFileName();
        try
        {
            var r = Run.Sh($"set -o pipefail; tcpdump -nn -q -r '{file}' 2>'{err}' | wc -l", 180_000);
            string e = File.ReadAllText(err);
            Assert.True(r.ExitCode == 0, $"tcpdump -r {file}: {r}\n{e}");
            Assert.DoesNotContain("truncated", e);
            Assert.DoesNotContain("bad dump file", e);
            return long.Parse(r.Stdout.Trim());
        }
        finally { File.Delete(err); }
    }

    public static List<string> Completed(string dir) =>
        Directory.GetFiles(dir).Where(f => f.EndsWith(".pcap") || f.EndsWith(".pcapng")).OrderBy(f => f).ToList();

    /// <summary>Sink's verdict: exactly n unique frames, nothing missing, corrupt, duplicated or reordered.</summary>
    public static void AssertExact(JsonElement sink, long n, string where)
    {
        string s = sink.ToString();
        Assert.True(L(sink, "unique") == n, $"{where}: {s}");
        foreach (var k in new[] { "missing", "corrupt", "duplicates", "reordered" })
            Assert.True(L(sink, k) == 0, $"{where}: {k} in {s}");
    }

    /// <summary>Every drop the recorder side can count, from the stats json and the link's counters.</summary>
    public static long RecorderSideDrops(JsonElement js, long recTxDropped) =>
        L(js, "socket_drops") + L(js, "queue_drops") + L(js, "disk_full_drops") + L(js, "write_errors")
        + (js.TryGetProperty("iface_rx_dropped", out var d) ? d.GetInt64() : 0) + recTxDropped;

    public static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        int p = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return p;
    }
}

/// <summary>A small ext4 on a loop device, mounted in a temp dir; unmounted, detached and deleted on Dispose.</summary>
public sealed class LoopDisk : IDisposable
{
    public string Dir { get; }
    public string Image { get; }
    public string Mount { get; }
    public string Device { get; private set; } = "";
    public string MajMin { get; private set; } = "";

    public LoopDisk(int mib)
    {
        Dir = Directory.CreateTempSubdirectory("taploop-").FullName;
        Image = Path.Combine(Dir, "disk.img");
        Mount = Path.Combine(Dir, "mnt");
        try
        {
            Directory.CreateDirectory(Mount);
            var r = Run.Sh($"truncate -s {mib}M {Image} && mkfs.ext4 -q -F -m 0 {Image} && losetup -f --show {Image}", 60_000);
            Assert.True(r.ExitCode == 0, "loop disk: " + r);
            Device = r.Stdout.Trim();
            r = Run.Sh($"mount {Device} {Mount} && lsblk -ndo MAJ:MIN {Device}", 30_000);
            Assert.True(r.ExitCode == 0, "mount: " + r);
            MajMin = r.Stdout.Trim();
        }
        catch { Dispose(); throw; }
    }

    public void Dispose()
    {
        Run.Sh($"mountpoint -q {Mount} && (umount {Mount} || umount -l {Mount}); true", 60_000);
        if (Device.Length > 0) Run.Sh($"losetup -d {Device}; true", 30_000);
        try { Directory.Delete(Dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A cgroup v1 blkio group with write throttles on one device; removed on Dispose (its processes must be gone).</summary>
public sealed class BlkioCgroup : IDisposable
{
    public string Path { get; }
    public string Procs => System.IO.Path.Combine(Path, "cgroup.procs");

    public BlkioCgroup(string name, string majMin, long writeBps, int writeIops)
    {
        Path = $"/sys/fs/cgroup/blkio/{name}";
        if (Directory.Exists(Path)) Directory.Delete(Path);
        Directory.CreateDirectory(Path);
        File.WriteAllText(System.IO.Path.Combine(Path, "blkio.throttle.write_bps_device"), $"{majMin} {writeBps}\n");
        File.WriteAllText(System.IO.Path.Combine(Path, "blkio.throttle.write_iops_device"), $"{majMin} {writeIops}\n");
    }

    public long BytesWritten()
    {
        var line = File.ReadAllLines(System.IO.Path.Combine(Path, "blkio.throttle.io_service_bytes")).FirstOrDefault(l => l.Contains(" Write "));
        return line == null ? 0 : long.Parse(line.Split(' ')[^1]);
    }

    public void Dispose()
    {
        for (int i = 0; i < 50 && Directory.Exists(Path); i++)
        {
            try { Directory.Delete(Path); } catch (IOException) { Thread.Sleep(100); }
        }
    }
}
