using System.Buffers.Binary;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.Faults;

/// <summary>
/// Every kind of frame a data link carries, in both directions, through the TC path: each must leave
/// the other side byte-identical and reach the recorder. The frames stay on the test's own veths.
/// </summary>
[Trait("Category", "Root")]
public sealed class FrameMatrixTests
{
    private static readonly byte[] MacL = [0x02, 0x74, 0x61, 0x70, 0, 1], MacR = [0x02, 0x74, 0x61, 0x70, 0, 2];
    private static readonly byte[] Bcast = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

    private static byte[] Eth(byte[] dst, byte[] src, ushort type, ReadOnlySpan<byte> payload, ushort? vlan = null)
    {
        var f = new List<byte>(dst.Concat(src));
        if (vlan is ushort v) f.AddRange([0x81, 0x00, (byte)(v >> 8), (byte)v]);
        f.AddRange([(byte)(type >> 8), (byte)type]);
        f.AddRange(payload.ToArray());
        return [.. f];
    }

    private static byte[] Ipv4(byte proto, byte[] src, byte[] dst, byte[] body, byte[]? options = null)
    {
        options ??= [];
        int hl = 20 + options.Length;
        var ip = new byte[hl + body.Length];
        ip[0] = (byte)(0x40 | (hl / 4)); ip[8] = 1; ip[9] = proto;
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(2), (ushort)ip.Length);
        src.CopyTo(ip, 12); dst.CopyTo(ip, 16); options.CopyTo(ip, 20);
        uint sum = 0;
        for (int i = 0; i < hl; i += 2) sum += (uint)(ip[i] << 8 | ip[i + 1]);
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(10), (ushort)~sum);
        body.CopyTo(ip, hl);
        return ip;
    }

    private static byte[] Udp(int payload) { var u = new byte[8 + payload]; u[0] = 0x9c; u[2] = 0x13; u[3] = 0x89; BinaryPrimitives.WriteUInt16BigEndian(u.AsSpan(4), (ushort)u.Length); for (int i = 8; i < u.Length; i++) u[i] = (byte)i; return u; }

    /// <summary>The matrix, for frames going from <paramref name="src"/> to <paramref name="dst"/>.</summary>
    public static List<(string Name, byte[] Frame)> Matrix(byte[] src, byte[] dst, int mtu)
    {
        byte[] a = [198, 18, 0, 1], b = [198, 18, 0, 2], group = [239, 18, 0, 1];
        byte[] mcastMac = [0x01, 0x00, 0x5e, 0x12, 0x00, 0x01];
        var arp = new byte[28];
        arp[1] = 1; arp[2] = 0x08; arp[4] = 6; arp[5] = 4; arp[7] = 1; src.CopyTo(arp, 8); a.CopyTo(arp, 14); b.CopyTo(arp, 24);
        byte[] igmp = [0x16, 0, 0, 0, .. group]; // IGMPv2 membership report
        uint s = 0; for (int i = 0; i < 8; i += 2) s += (uint)(igmp[i] << 8 | igmp[i + 1]); s = (s & 0xffff) + (s >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(igmp.AsSpan(2), (ushort)~s);
        var ip6 = new byte[40 + 8 + 100];
        ip6[0] = 0x60; BinaryPrimitives.WriteUInt16BigEndian(ip6.AsSpan(4), 108); ip6[6] = 17; ip6[7] = 1;
        ip6[8] = 0xfe; ip6[9] = 0x80; ip6[24] = 0xff; ip6[25] = 0x02; ip6[39] = 1;
        Udp(100).CopyTo(ip6, 40);
        return
        [
            ("runt 42 B (headers only)", Eth(dst, src, 0x0800, Ipv4(17, a, b, Udp(0)))),
            ("minimum 60 B", Eth(dst, src, 0x0800, Ipv4(17, a, b, Udp(18)))),
            ("1514 B full MTU", Eth(dst, src, 0x0800, Ipv4(17, a, b, Udp(1500 - 28)))),
            ("VLAN 100 tagged", Eth(dst, src, 0x0800, Ipv4(17, a, b, Udp(200)), vlan: 100)),
            ("IPv6 to ff02::1", Eth([0x33, 0x33, 0, 0, 0, 1], src, 0x86dd, ip6)),
            ("IPv4 multicast 239.18.0.1", Eth(mcastMac, src, 0x0800, Ipv4(17, a, group, Udp(400)))),
            ("ARP who-has", Eth(Bcast, src, 0x0806, arp.Concat(new byte[18]).ToArray())),
            ("IGMPv2 join", Eth(mcastMac, src, 0x0800, Ipv4(2, a, group, igmp, options: [0x94, 0x04, 0, 0]))),
            .. mtu >= 9000 ? new[] { ("jumbo 9014 B", Eth(dst, src, 0x0800, Ipv4(17, a, b, Udp(9000 - 28)))) } : [],
        ];
    }

    [RootTheory]
    [InlineData(1500)]
    [InlineData(9000)]
    public void EveryFrameKindCrossesBothWaysByteIdenticalAndIsRecorded(int mtu)
    {
        using var lab = new Lab(mtu == 1500 ? "fa" : "fb", mtu: mtu);
        using var t = new Tcloader(lab.Prefix);
        t.MustRun($"attach --pairs {lab.In(0)}:{lab.Out(0)} --recorder {lab.Rec} --bidirectional --record-reverse");
        var outDir = Directory.CreateTempSubdirectory("tapmatrix-").FullName;
        using var recorder = new RecorderProcess($"--interface {lab.RecPeer} --output {outDir} --duration 120 --format pcap");
        recorder.WaitReady();
        var sent = new List<(string Name, byte[] Frame)>();

        foreach (var forward in new[] { true, false })
        {
            var frames = forward ? Matrix(MacL, MacR, mtu) : Matrix(MacR, MacL, mtu);
            sent.AddRange(frames);
            using var egress = forward ? new NsCapture(lab.RightNs, lab.Right(0)) : new NsCapture(lab.LeftNs, lab.Left(0));
            using var rec = new NsCapture("", lab.RecPeer);
            RawSend.Frames(forward ? lab.LeftNs : lab.RightNs, forward ? lab.Left(0) : lab.Right(0), frames.Select(f => f.Frame));
            var got = egress.Stop().Select(Convert.ToHexString).ToList();
            var recorded = rec.Stop().Select(Convert.ToHexString).ToList();
            foreach (var (name, frame) in frames)
            {
                var hex = Convert.ToHexString(frame);
                Assert.True(got.Count(g => g == hex) == 1, $"{(forward ? "IN->OUT" : "OUT->IN")} mtu {mtu}: '{name}' arrived {got.Count(g => g == hex)} times byte-identical ({got.Count} frames seen; tcpdump: {egress.LastRun})");
                Assert.True(recorded.Contains(hex), $"{(forward ? "IN->OUT" : "OUT->IN")} mtu {mtu}: '{name}' not recorded");
            }
        }

        // The recorder's own files hold every one of them, byte-identical, and tcpdump reads them.
        Thread.Sleep(300); // the last clones cross the veth
        recorder.Signal(15);
        Assert.True(recorder.WaitExit() == 0, recorder.Stderr);
        var files = Directory.GetFiles(outDir, "*.pcap");
        try
        {
            Assert.NotEmpty(files);
            var inFiles = files.SelectMany(Pcap.ReadFrames).Select(Convert.ToHexString).ToList();
            foreach (var (name, frame) in sent)
                Assert.True(inFiles.Contains(Convert.ToHexString(frame)), $"mtu {mtu}: '{name}' missing from the recorder's files");
            foreach (var f in files)
            {
                var r = Run.Cmd("tcpdump", $"-r {f}");
                Assert.True(r.ExitCode == 0, r.ToString());
            }
        }
        finally { Directory.Delete(outDir, true); }
    }
}
