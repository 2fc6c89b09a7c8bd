using System.Buffers.Binary;

namespace Tap.Tests.Infra;

/// <summary>Crafted frames for BPF_PROG_TEST_RUN.</summary>
public static class Frames
{
    public static byte[] Udp(int size = 128, ushort? vlan = null)
    {
        var f = new byte[size];
        byte[] dst = [0x02, 0x74, 0x61, 0x70, 0, 2], src = [0x02, 0x74, 0x61, 0x70, 0, 1];
        dst.CopyTo(f, 0); src.CopyTo(f, 6);
        int o = 12;
        if (vlan is ushort v)
        {
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(o), 0x8100);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(o + 2), v);
            o += 4;
        }
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(o), 0x0800);
        o += 2;
        f[o] = 0x45; // IPv4, IHL 5
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(o + 2), (ushort)(size - o));
        f[o + 8] = 64; f[o + 9] = 17;
        byte[] sip = [198, 18, 0, 1], dip = [198, 18, 0, 2];
        sip.CopyTo(f, o + 12); dip.CopyTo(f, o + 16);
        for (int i = o + 28; i < size; i++) f[i] = (byte)i;
        return f;
    }

    /// <summary>A struct __sk_buff for the test run's context: only ingress_ifindex (offset 36) is set.</summary>
    public static byte[] SkbCtx(int ingressIfindex)
    {
        var ctx = new byte[192];
        BinaryPrimitives.WriteUInt32LittleEndian(ctx.AsSpan(36), (uint)ingressIfindex);
        return ctx;
    }

    /// <summary>A struct xdp_md: data, data_end, data_meta, ingress_ifindex (12), rx_queue_index (16), egress_ifindex.</summary>
    public static byte[] XdpCtx(int ingressIfindex, int rxQueue = 0)
    {
        var ctx = new byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(ctx.AsSpan(12), (uint)ingressIfindex);
        BinaryPrimitives.WriteUInt32LittleEndian(ctx.AsSpan(16), (uint)rxQueue);
        return ctx;
    }
}
