using System.Buffers.Binary;
using System.Text.Json;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.Recorder.Capture;

/// <summary>
/// --queues N on a multi-queue veth (2 rx queues): one AF_XDP socket per queue, or an AF_PACKET fanout
/// group of N sockets. Two flows are sent at once; every frame of both must be in the files, once.
/// </summary>
[Trait("Category", "Root")]
public sealed class RecorderQueuesTests : IDisposable
{
    private const string Ns = "rqsrc", Rec = "rqrec0p", Src = "rqs0";
    private readonly string _out = Directory.CreateTempSubdirectory("rq-out-").FullName;

    public RecorderQueuesTests()
    {
        if (!TestEnv.IsRoot && !TestEnv.RootRequired) return;
        Down();
        var r = Run.Sh($"ip netns add {Ns} && ip link add {Rec} numtxqueues 2 numrxqueues 2 type veth peer name {Src} numtxqueues 2 numrxqueues 2 netns {Ns} && " +
                       $"sysctl -qw net.ipv6.conf.{Rec}.disable_ipv6=1 && ip netns exec {Ns} sysctl -qw net.ipv6.conf.{Src}.disable_ipv6=1 && " +
                       $"ip link set {Rec} up && ip -n {Ns} link set {Src} up", 30_000);
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static void Down() => Run.Sh($"ip link del {Rec} 2>/dev/null; ip netns del {Ns} 2>/dev/null; true");

    public void Dispose()
    {
        Down();
        Directory.Delete(_out, true);
    }

    [RootTheory]
    [InlineData("afpacket")]
    [InlineData("afxdp")]
    public void TwoQueuesRecordEveryFrameOfTwoFlowsOnce(string source)
    {
        const int perFlow = 20_000;
        string stats = Path.Combine(_out, "stats.json");
        using var rec = new RecorderProcess($"--interface {Rec} --output {_out} --source {source} --queues 2 --format pcap --stats-json {stats}");
        rec.WaitReady();
        // Two flows (UDP source ports 40000 and 40001), each from its own sender, so they spread over queues.
        var senders = Enumerable.Range(0, 2).Select(s =>
            Run.Start("ip", $"netns exec {Ns} {TestEnv.Tapgen} send --iface {Src} --count {perFlow} --size 60:1500 --pps 25000 --stream {s} --duration-max 60")).ToList();
        foreach (var s in senders) Assert.Equal(0, Run.Wait(s, 90_000).ExitCode);
        Thread.Sleep(500);
        rec.Signal(15);
        Assert.True(rec.WaitExit() == 0, rec.Stderr);

        var js = JsonDocument.Parse(File.ReadAllText(stats)).RootElement;
        var files = js.GetProperty("files").EnumerateArray().Select(e => e.GetString()!).ToList();
        var seen = new HashSet<(uint, ulong)>();
        long tcpdumpTotal = 0;
        foreach (var f in files)
        {
            var t = Run.Sh($"tcpdump -nn -r '{f}' 2>/dev/null | wc -l");
            tcpdumpTotal += long.Parse(t.Stdout.Trim());
            foreach (var frame in Pcap.Frames(File.ReadAllBytes(f)))
            {
                uint stream = BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(14 + 20 + 8 + 4));
                ulong seq = BinaryPrimitives.ReadUInt64BigEndian(frame.AsSpan(14 + 20 + 8 + 8));
                Assert.True(seen.Add((stream, seq)), $"stream {stream} seq {seq} recorded twice");
            }
        }
        Assert.Equal(2 * perFlow, seen.Count);
        Assert.Equal(2L * perFlow, tcpdumpTotal);
        Assert.Equal(2L * perFlow, js.GetProperty("packets").GetInt64());
        Assert.Equal(0, js.GetProperty("dropped").GetInt64());
        Assert.Contains("2 channel", rec.Stderr);
    }
}
