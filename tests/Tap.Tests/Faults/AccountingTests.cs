using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.Faults;

/// <summary>
/// Every frame is accounted for from the wire to the file: tap + recorder, 50,000 numbered frames at ~60 kpps,
/// then, after the recorder stopped on SIGTERM with no backlog:
///   seen (tcloader packets) = cloned + clone_errors
///   cloned = recorded + socket_drops + queue_drops + disk_full_drops + write_errors + rec0p rx_dropped + rec0 tx_dropped
///   recorded (stats json packets) = what tcpdump -r counts across all the files
/// and the egress sink got every frame exactly once.
/// </summary>
[Trait("Category", "Root")]
public sealed class AccountingTests
{
    public static void EndToEnd(string prefix, string source, string format)
    {
        const int N = 50_000;
        using var rig = new TapRig(prefix);
        var lab = rig.Lab;
        long txd0 = Kit.IfStat(lab.Rec, "tx_dropped"), rx0 = Kit.IfStat(lab.RecPeer, "rx_packets");
        string stats = Path.Combine(rig.NewDir(), "stats.json");
        using var rec = RecorderProcess.StartReady($"--interface {lab.RecPeer} --output {rig.OutDir} --source {source} --format {format} --rotate-size 8M --duration 120 --stats-json {stats}");
        using (var egress = lab.StartSink(0, N, "60:1500"))
        {
            var sent = lab.Send(0, N, "60:1500", 60_000);
            Assert.Equal(N, Kit.L(sent, "sent"));
            Kit.AssertExact(egress.Wait().Json, N, "egress");
        }
        rec.Stop();

        var js = Kit.StatsJson(stats);
        var p = rig.Pair();
        long seen = Kit.L(p, "packets"), cloned = Kit.L(p, "cloned"), cloneErr = Kit.L(p, "clone_errors");
        long recTxDropped = Kit.IfStat(lab.Rec, "tx_dropped") - txd0;
        long recorded = Kit.L(js, "packets");
        long drops = Kit.RecorderSideDrops(js, recTxDropped);
        var files = Kit.Completed(rig.OutDir);
        long inFiles = files.Sum(Kit.TcpdumpCount);
        string all = $"{source}: tcloader {p}\nrecorder {js}\nrec0 tx_dropped {recTxDropped}, tcpdump {inFiles} in {files.Count} files";

        Assert.True(Kit.L(js, "backlog_bytes") == 0, all);
        Assert.Empty(Directory.GetFiles(rig.OutDir, "*.part"));
        Assert.True(seen == N, all);
        Assert.True(seen == cloned + cloneErr, "seen = cloned + clone_errors\n" + all);
        Assert.True(cloned == recorded + drops, "cloned = recorded + drops\n" + all);
        Assert.True(recorded == inFiles, "recorded = tcpdump count\n" + all);
        Assert.True(Kit.L(js, "dropped") == Kit.L(js, "socket_drops") + Kit.L(js, "queue_drops") + Kit.L(js, "disk_full_drops") + Kit.L(js, "write_errors"), all);
        // The veth delivered every clone to the recorder's end; nothing else crossed it.
        Assert.True(Kit.IfStat(lab.RecPeer, "rx_packets") - rx0 == cloned - recTxDropped, all);
        Assert.Equal(files.Count, js.GetProperty("files").GetArrayLength());
        // At 60 kpps on this lab nothing should be lost at all.
        Assert.True(recorded == N, "expected every frame recorded at 60 kpps\n" + all);
    }

    [RootFact]
    public void Afpacket_every_frame_accounted_from_wire_to_file() => EndToEnd("fp", "afpacket", "pcapng");

    [RootFact]
    public void Afxdp_every_frame_accounted_from_wire_to_file() => EndToEnd("fx", "afxdp", "pcap");
}
