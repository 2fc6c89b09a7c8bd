using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tap.Interop;
using Tap.Recorder.Capture;

namespace Tap.Recorder.Sources;

/// <summary>
/// AF_PACKET, SOCK_RAW, ETH_P_ALL with a TPACKET_V3 receive ring, one socket per channel. With more
/// than one channel the sockets join one PACKET_FANOUT group (hash by flow, or by CPU).
///
/// Set-up order closes libpcap#843: the socket is created with protocol 0 (it receives nothing),
/// gets its version and its ring, and only then is bound to ETH_P_ALL on the interface, so no
/// frame lands on a half-built socket.
/// </summary>
public sealed unsafe class AfPacketSource : ICaptureSource
{
    public const int DefaultBlockSize = 4 << 20, DefaultBlocks = 64, FrameSize = 16384, BlockTimeoutMs = 10;
    public const int FanoutHash = 0, FanoutCpu = 2;

    private readonly Channel[] _channels;
    public string Name => "afpacket";
    public int Channels => _channels.Length;

    public AfPacketSource(int ifindex, int channels, int blockSize = DefaultBlockSize, int blocks = DefaultBlocks, int fanoutMode = FanoutHash)
    {
        _channels = new Channel[channels];
        int group = Libc.getpid() & 0xffff;
        try
        {
            for (int i = 0; i < channels; i++)
                _channels[i] = new Channel(ifindex, blockSize, blocks, channels > 1 ? group : -1, fanoutMode);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public void Run(int channel, CaptureWriter writer, CancellationToken stop) => _channels[channel].Run(writer, stop);

    public void StopIngress() { } // the final drain below retires the open block by its timeout

    public SourceStats Stats()
    {
        long rx = 0, drops = 0, kp = 0;
        foreach (var c in _channels)
        {
            if (c is null) continue;
            rx += Volatile.Read(ref c.Counters.Received);
            drops += Volatile.Read(ref c.Counters.SocketDrops);
            kp += Volatile.Read(ref c.Counters.KernelPackets);
        }
        return new SourceStats(rx, drops, new Dictionary<string, long> { ["kernel_packets"] = kp });
    }

    public void Dispose()
    {
        foreach (var c in _channels) c?.Dispose();
    }

    private sealed class Channel : IDisposable
    {
        private const int PACKET_RX_RING = 5, PACKET_STATISTICS = 6, PACKET_VERSION = 10, PACKET_FANOUT = 18, PACKET_IGNORE_OUTGOING = 23;
        private const int TPACKET_V3 = 2;
        private const uint TP_STATUS_KERNEL = 0, TP_STATUS_USER = 1, TP_STATUS_VLAN_VALID = 0x10, TP_STATUS_VLAN_TPID_VALID = 0x40;
        private const ushort ETH_P_ALL = 0x0003;

        [StructLayout(LayoutKind.Sequential)]
        private struct TpacketReq3
        {
            public uint BlockSize, BlockNr, FrameSize, FrameNr, RetireBlkTov, SizeofPriv, FeatureReqWord;
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct TpacketStatsV3 { public uint Packets, Drops, FreezeQCnt; }

        private readonly FdHandle _fd;
        private readonly MmapHandle _ring;
        private readonly int _blockSize, _blocks;
        public readonly ChannelCounters Counters = new();
        private readonly byte[] _vlanBuf = new byte[FrameSize + 4];

        public Channel(int ifindex, int blockSize, int blocks, int fanoutGroup, int fanoutMode)
        {
            _blockSize = blockSize;
            _blocks = blocks;
            // Protocol 0: the socket receives nothing until bind() names ETH_P_ALL, after the ring exists.
            _fd = new FdHandle(BpfException.CheckErrno(Libc.socket(Libc.AF_PACKET, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, 0), "socket", "AF_PACKET"));
            int fd = _fd.Fd;
            Libc.SetOpt(fd, Libc.SOL_PACKET, PACKET_VERSION, TPACKET_V3, "PACKET_VERSION");
            // The recorder interface only ever receives (clones); what the host itself sends there is not traffic.
            try { Libc.SetOpt(fd, Libc.SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING"); }
            catch (BpfException) { /* kernel < 4.20: outgoing frames would be recorded too */ }
            var req = new TpacketReq3
            {
                BlockSize = (uint)blockSize, BlockNr = (uint)blocks, FrameSize = FrameSize,
                FrameNr = (uint)(blockSize / FrameSize * blocks), RetireBlkTov = BlockTimeoutMs,
            };
            Libc.SetOpt(fd, Libc.SOL_PACKET, PACKET_RX_RING, req, "PACKET_RX_RING");
            _ring = MmapHandle.Map(fd, (nuint)((long)blockSize * blocks), 0, "TPACKET_V3 ring", Libc.MAP_LOCKED | Libc.MAP_POPULATE);

            // struct sockaddr_ll { u16 family; be16 protocol; int ifindex; u16 hatype; u8 pkttype; u8 halen; u8 addr[8]; }
            byte* sll = stackalloc byte[20];
            new Span<byte>(sll, 20).Clear();
            *(ushort*)sll = Libc.AF_PACKET;
            *(ushort*)(sll + 2) = BinaryPrimitives.ReverseEndianness(ETH_P_ALL);
            *(int*)(sll + 4) = ifindex;
            BpfException.CheckErrno(Libc.bind(fd, sll, 20), "bind", "AF_PACKET");
            // Fanout needs a bound (running) socket.
            if (fanoutGroup >= 0)
                Libc.SetOpt(fd, Libc.SOL_PACKET, PACKET_FANOUT, (fanoutGroup & 0xffff) | (fanoutMode << 16), "PACKET_FANOUT");
        }

        public void Run(CaptureWriter writer, CancellationToken stop)
        {
            byte* ring = _ring.Pointer;
            int cur = 0;
            long nextStats = Environment.TickCount64 + 1000;
            int idleAfterStop = 0;
            var pfd = new Libc.PollFd { Fd = _fd.Fd, Events = Libc.POLLIN | Libc.POLLERR };
            while (true)
            {
                byte* blk = ring + (long)cur * _blockSize;
                ref uint status = ref Unsafe.AsRef<uint>(blk + 8); // tpacket_block_desc.hdr.bh1.block_status
                // Acquire: the kernel fills the block, then stores TP_STATUS_USER; reading the status with
                // acquire semantics makes every packet it wrote before that store visible to the reads below.
                if ((Volatile.Read(ref status) & TP_STATUS_USER) == 0)
                {
                    if (Environment.TickCount64 >= nextStats) { ReadStats(writer); nextStats = Environment.TickCount64 + 1000; }
                    if (stop.IsCancellationRequested)
                    {
                        // The open block is retired by its 10 ms timeout; two empty 20 ms waits in a row end the drain.
                        if (++idleAfterStop > 2) break;
                        Libc.poll(&pfd, 1, 20);
                        continue;
                    }
                    Libc.poll(&pfd, 1, 100);
                    continue;
                }
                idleAfterStop = 0;
                uint n = *(uint*)(blk + 12);   // num_pkts
                uint off = *(uint*)(blk + 16); // offset_to_first_pkt
                byte* h = blk + off;
                for (uint i = 0; i < n; i++)
                {
                    Deliver(writer, h);
                    h += *(uint*)h; // tp_next_offset
                }
                // Release: every read of this block above happens before the kernel sees it as free and refills it.
                Volatile.Write(ref status, TP_STATUS_KERNEL);
                cur = cur + 1 == _blocks ? 0 : cur + 1;
                if (Environment.TickCount64 >= nextStats) { ReadStats(writer); nextStats = Environment.TickCount64 + 1000; }
            }
            ReadStats(writer);
        }

        private void Deliver(CaptureWriter writer, byte* h)
        {
            // struct tpacket3_hdr: next_offset, sec, nsec, snaplen, len, status, u16 mac, u16 net, hv1 {rxhash, vlan_tci, u16 vlan_tpid}
            uint sec = *(uint*)(h + 4), nsec = *(uint*)(h + 8), snap = *(uint*)(h + 12), len = *(uint*)(h + 16), st = *(uint*)(h + 20);
            ushort mac = *(ushort*)(h + 24);
            long ts = sec * 1_000_000_000L + nsec; // CLOCK_REALTIME
            var data = new ReadOnlySpan<byte>(h + mac, (int)snap);
            Counters.Received++;
            if ((st & TP_STATUS_VLAN_VALID) != 0 && snap >= 12)
            {
                // The kernel took the 802.1Q tag out of the frame (VLAN offload): put the 4 bytes back,
                // because the file must hold the frame as it was on the wire.
                ushort tci = (ushort)*(uint*)(h + 32);
                ushort tpid = (st & TP_STATUS_VLAN_TPID_VALID) != 0 ? *(ushort*)(h + 36) : (ushort)0x8100;
                var buf = _vlanBuf.AsSpan();
                int copy = Math.Min((int)snap, buf.Length - 4);
                data[..12].CopyTo(buf);
                BinaryPrimitives.WriteUInt16BigEndian(buf[12..], tpid);
                BinaryPrimitives.WriteUInt16BigEndian(buf[14..], tci);
                data[12..copy].CopyTo(buf[16..]);
                writer.Write(buf[..(copy + 4)], (int)len + 4, ts);
                return;
            }
            writer.Write(data, (int)len, ts);
        }

        /// <summary>PACKET_STATISTICS resets on every read (zeek#4809): keep running sums. Capture thread only.</summary>
        private void ReadStats(CaptureWriter writer)
        {
            var s = Libc.GetOpt<TpacketStatsV3>(_fd.Fd, Libc.SOL_PACKET, PACKET_STATISTICS, "PACKET_STATISTICS");
            if (s.Drops != 0) Volatile.Write(ref Counters.SocketDrops, Counters.SocketDrops + s.Drops);
            // tp_packets counts received frames plus the drops.
            Volatile.Write(ref Counters.KernelPackets, Counters.KernelPackets + s.Packets);
            writer.CountSourceDrops(Counters.SocketDrops);
        }

        public void Dispose()
        {
            _ring?.Dispose();
            _fd?.Dispose();
        }
    }
}
