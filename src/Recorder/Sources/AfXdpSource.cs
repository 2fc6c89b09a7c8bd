using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tap.Interop;
using Tap.Recorder.Capture;

namespace Tap.Recorder.Sources;

/// <summary>
/// AF_XDP: the xdp_xsk program (bpf/xdp_pass.o) redirects every frame on the recorder interface into
/// the socket bound to its rx queue (XSKMAP tap_xsks). One socket, one UMEM and one capture thread per queue.
///
/// The program is attached through a BPF link (native mode first, generic SKB mode as fallback), so a
/// killed recorder leaves nothing attached. Shutdown order (suricata#9333): detach the program, drain
/// the rings, close the sockets, free the UMEM.
///
/// Timestamps: AF_XDP descriptors carry none. Every frame of a batch gets WallClock.NowNs() taken
/// when the batch is picked up from the rx ring (CLOCK_REALTIME, microseconds late at most under load).
/// </summary>
public sealed unsafe class AfXdpSource : ICaptureSource
{
    public const string ObjectName = "xdp_pass.o", Program = "xdp_xsk", XskMap = "tap_xsks", StatsMap = "tap_xsk_stats";
    private static readonly string[] OtherPrograms = ["xdp_pass", "xdp_redirect", "xdp_clone"];

    private readonly BpfObject _obj;
    private readonly BpfMap<uint, int> _xsks;
    private readonly BpfMap<uint, TapXskStats> _stats;
    private readonly XskSocket[] _socks;
    private FdHandle? _link;
    private readonly int _ifindex;
    public string XdpMode { get; private set; } = "none";
    public string BindMode { get; }
    public string Name => "afxdp";
    public int Channels => _socks.Length;

    public AfXdpSource(string bpfObjectPath, int ifindex, int queues, int ringSize = 16384, int frames = 32768)
    {
        _ifindex = ifindex;
        _socks = new XskSocket[queues];
        try
        {
            _obj = BpfObject.Open(bpfObjectPath);
            foreach (var p in OtherPrograms) _obj.SetAutoload(p, false);
            _obj.Load();
            _xsks = new BpfMap<uint, int>(_obj.DupMap(XskMap), XskMap);
            _stats = new BpfMap<uint, TapXskStats>(_obj.DupMap(StatsMap), StatsMap);
            // Sockets first, then the program: no frame reaches an empty XSKMAP slot.
            for (int q = 0; q < queues; q++)
            {
                _socks[q] = XskSocket.Create(ifindex, q, ringSize, frames);
                _xsks.Update((uint)q, _socks[q].Fd);
            }
            BindMode = _socks[0].BindMode;
            Attach(_obj.ProgramFd(Program));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private void Attach(int progFd)
    {
        int ret = 0;
        foreach (var (flags, mode) in new[] { (XdpLink.FlagsDrvMode, "native"), (XdpLink.FlagsSkbMode, "generic") })
        {
            ret = XdpLink.Create(progFd, _ifindex, flags);
            if (ret >= 0) { _link = new FdHandle(ret); XdpMode = mode; return; }
            if (ret is -16 /* EBUSY */ or -17 /* EEXIST */)
                throw new BpfException("bpf_link_create(BPF_XDP)", -ret, $"interface {NetDev.Name(_ifindex)} already has an XDP program");
        }
        throw new BpfException("bpf_link_create(BPF_XDP)", -ret, $"native and generic XDP both refused on {NetDev.Name(_ifindex)}");
    }

    public void StopIngress()
    {
        if (_link is null) return;
        Libbpf.bpf_link_detach(_link.Fd); // then closing the link fd releases the program
        _link.Dispose();
        _link = null;
    }

    public void Run(int channel, CaptureWriter writer, CancellationToken stop) => _socks[channel].Run(writer, stop);

    public SourceStats Stats()
    {
        long rx = 0, drops = 0, rxd = 0, inv = 0, full = 0, empty = 0, over = 0;
        foreach (var s in _socks)
        {
            if (s is null) continue;
            var c = s.Counters;
            rx += Volatile.Read(ref c.Received);
            rxd += Volatile.Read(ref c.RxDropped);
            inv += Volatile.Read(ref c.RxInvalidDescs);
            full += Volatile.Read(ref c.RxRingFull);
            empty += Volatile.Read(ref c.RxFillRingEmpty);
            over += Volatile.Read(ref c.Oversize);
        }
        var x = new TapXskStats();
        try { foreach (var v in _stats.LookupPerCpu(0)) x.Add(v); } catch (BpfException) { }
        // Frames lost between the program and the file: no socket on the queue, dropped at the socket, rx ring full.
        drops = (long)x.NoSocket + rxd + full + over;
        return new SourceStats(rx, drops, new Dictionary<string, long>
        {
            ["rx_dropped"] = rxd, ["rx_ring_full"] = full, ["rx_fill_ring_empty_descs"] = empty, ["rx_invalid_descs"] = inv,
            ["xdp_packets"] = (long)x.Packets, ["xdp_redirected"] = (long)x.Redirected, ["xdp_no_socket"] = (long)x.NoSocket,
            ["oversize_drops"] = over,
        });
    }

    public void Dispose()
    {
        StopIngress();                              // 1. no new frames
        foreach (var s in _socks) s?.Dispose();     // 2. sockets (rings unmapped, fd closed), then UMEM
        _xsks?.Dispose();
        _stats?.Dispose();
        _obj?.Dispose();
    }
}

/// <summary>One AF_XDP socket with its own UMEM, fill/completion rings and rx ring.</summary>
internal sealed unsafe class XskSocket : IDisposable
{
    private const int XDP_MMAP_OFFSETS = 1, XDP_RX_RING = 2, XDP_UMEM_REG = 4, XDP_UMEM_FILL_RING = 5, XDP_UMEM_COMPLETION_RING = 6, XDP_STATISTICS = 7;
    private const ushort XDP_COPY = 2, XDP_ZEROCOPY = 4, XDP_USE_SG = 16;
    private const long XDP_PGOFF_RX_RING = 0, XDP_UMEM_PGOFF_FILL_RING = 0x100000000;
    private const uint XDP_PKT_CONTD = 1;
    public const int ChunkSize = 4096, MaxFrame = 16384;

    [StructLayout(LayoutKind.Sequential)]
    private struct UmemReg { public ulong Addr, Len; public uint ChunkSize, Headroom, Flags, TxMetadataLen; }

    [StructLayout(LayoutKind.Sequential)]
    private struct RingOffset { public ulong Producer, Consumer, Desc, Flags; }

    [StructLayout(LayoutKind.Sequential)]
    private struct MmapOffsets { public RingOffset Rx, Tx, Fr, Cr; }

    [StructLayout(LayoutKind.Sequential)]
    private struct XdpStatistics { public ulong RxDropped, RxInvalidDescs, TxInvalidDescs, RxRingFull, RxFillRingEmptyDescs, TxRingEmptyDescs; }

    private FdHandle _fd = null!;
    private AlignedMemoryHandle _umem = null!;
    private MmapHandle _rxMap = null!, _fillMap = null!;
    private uint* _rxProd, _rxCons, _fillProd, _fillCons;
    private ulong* _fillRing;
    private byte* _rxRing;
    private uint _rxMask, _fillMask;
    public ChannelCounters Counters { get; } = new();
    public string BindMode { get; private set; } = "";
    public int Fd => _fd.Fd;
    private readonly byte[] _reasm = new byte[MaxFrame];

    private XskSocket() { }

    /// <summary>Zero-copy first, copy mode as fallback; multi-buffer (XDP_USE_SG) where allowed so jumbo frames
    /// span several 4 KiB chunks. A socket whose bind failed is thrown away and made afresh.</summary>
    public static XskSocket Create(int ifindex, int queue, int ringSize, int frames)
    {
        BpfException? last = null;
        foreach (var (flags, name) in new[] { (XDP_ZEROCOPY | XDP_USE_SG, "zerocopy+sg"), (XDP_ZEROCOPY, "zerocopy"), (XDP_COPY | XDP_USE_SG, "copy+sg"), (XDP_COPY, "copy") })
        {
            var s = new XskSocket();
            try
            {
                s.Setup(ifindex, queue, ringSize, frames, (ushort)flags);
                s.BindMode = name;
                return s;
            }
            catch (BpfException e) when (e.Call == "bind")
            {
                last = e;
                s.Dispose();
            }
            catch
            {
                s.Dispose();
                throw;
            }
        }
        throw last!;
    }

    private void Setup(int ifindex, int queue, int ringSize, int frames, ushort bindFlags)
    {
        _fd = new FdHandle(BpfException.CheckErrno(Libc.socket(Libc.AF_XDP, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, 0), "socket", "AF_XDP"));
        int fd = _fd.Fd;
        _umem = new AlignedMemoryHandle((nuint)((long)frames * ChunkSize), 4096);
        Libc.SetOpt(fd, Libc.SOL_XDP, XDP_UMEM_REG, new UmemReg { Addr = (ulong)_umem.Pointer, Len = _umem.Length, ChunkSize = ChunkSize }, "XDP_UMEM_REG");
        Libc.SetOpt(fd, Libc.SOL_XDP, XDP_UMEM_FILL_RING, frames, "XDP_UMEM_FILL_RING");
        Libc.SetOpt(fd, Libc.SOL_XDP, XDP_UMEM_COMPLETION_RING, 64, "XDP_UMEM_COMPLETION_RING"); // required by bind; we never transmit
        Libc.SetOpt(fd, Libc.SOL_XDP, XDP_RX_RING, ringSize, "XDP_RX_RING");
        var off = Libc.GetOpt<MmapOffsets>(fd, Libc.SOL_XDP, XDP_MMAP_OFFSETS, "XDP_MMAP_OFFSETS");

        _rxMap = MmapHandle.Map(fd, (nuint)(off.Rx.Desc + (ulong)ringSize * 16), XDP_PGOFF_RX_RING, "AF_XDP rx ring", Libc.MAP_POPULATE);
        _fillMap = MmapHandle.Map(fd, (nuint)(off.Fr.Desc + (ulong)frames * 8), XDP_UMEM_PGOFF_FILL_RING, "AF_XDP fill ring", Libc.MAP_POPULATE);
        _rxProd = (uint*)(_rxMap.Pointer + off.Rx.Producer);
        _rxCons = (uint*)(_rxMap.Pointer + off.Rx.Consumer);
        _rxRing = _rxMap.Pointer + off.Rx.Desc;
        _rxMask = (uint)ringSize - 1;
        _fillProd = (uint*)(_fillMap.Pointer + off.Fr.Producer);
        _fillCons = (uint*)(_fillMap.Pointer + off.Fr.Consumer);
        _fillRing = (ulong*)(_fillMap.Pointer + off.Fr.Desc);
        _fillMask = (uint)frames - 1;

        // Every chunk starts in the fill ring; the ring is as large as the UMEM, so a chunk taken off the
        // rx ring always has a slot to go back to and the fill ring stays full.
        uint prod = *_fillProd;
        for (int i = 0; i < frames; i++) _fillRing[(prod + (uint)i) & _fillMask] = (ulong)i * ChunkSize;
        // Release: the addresses above are written before the kernel can see the new producer.
        Volatile.Write(ref *_fillProd, prod + (uint)frames);

        // struct sockaddr_xdp { u16 family; u16 flags; u32 ifindex; u32 queue_id; u32 shared_umem_fd; }
        byte* sa = stackalloc byte[16];
        new Span<byte>(sa, 16).Clear();
        *(ushort*)sa = Libc.AF_XDP;
        *(ushort*)(sa + 2) = bindFlags;
        *(uint*)(sa + 4) = (uint)ifindex;
        *(uint*)(sa + 8) = (uint)queue;
        BpfException.CheckErrno(Libc.bind(fd, sa, 16), "bind", $"AF_XDP queue {queue}");
    }

    public void Run(CaptureWriter writer, CancellationToken stop)
    {
        uint cons = *_rxCons;          // ours: only this thread writes it
        uint fillProd = *_fillProd;    // ours too
        int reasmLen = 0;
        bool reasmBad = false;
        long nextStats = Environment.TickCount64 + 1000;
        var pfd = new Libc.PollFd { Fd = _fd.Fd, Events = Libc.POLLIN | Libc.POLLERR };
        byte* umem = _umem.Pointer;
        bool draining = false;
        while (true)
        {
            // Acquire: the descriptors (and the frame data they point to) written by the kernel before it
            // advanced the producer are visible to the reads below.
            uint prod = Volatile.Read(ref *_rxProd);
            if (prod == cons)
            {
                if (Environment.TickCount64 >= nextStats) { ReadStats(writer); nextStats = Environment.TickCount64 + 1000; }
                if (draining) break;
                if (stop.IsCancellationRequested) { draining = true; Libc.poll(&pfd, 1, 20); continue; } // ingress is detached: one last look
                Libc.poll(&pfd, 1, 100); // the only native call on the data path, and only when the ring is empty
                continue;
            }
            long ts = WallClock.NowNs();
            for (; cons != prod; cons++)
            {
                byte* d = _rxRing + (long)(cons & _rxMask) * 16; // struct xdp_desc { u64 addr; u32 len; u32 options; }
                ulong addr = *(ulong*)d;
                uint len = *(uint*)(d + 8), opts = *(uint*)(d + 12);
                var data = new ReadOnlySpan<byte>(umem + addr, (int)len);
                if ((opts & XDP_PKT_CONTD) != 0 || reasmLen > 0)
                {
                    // A multi-buffer frame: gather its pieces; the last one has XDP_PKT_CONTD clear.
                    if (!reasmBad && reasmLen + len <= _reasm.Length) { data.CopyTo(_reasm.AsSpan(reasmLen)); reasmLen += (int)len; }
                    else reasmBad = true;
                    if ((opts & XDP_PKT_CONTD) == 0)
                    {
                        if (reasmBad) Counters.Oversize++;
                        else { Counters.Received++; writer.Write(_reasm.AsSpan(0, reasmLen), reasmLen, ts); }
                        reasmLen = 0;
                        reasmBad = false;
                    }
                }
                else
                {
                    Counters.Received++;
                    writer.Write(data, (int)len, ts); // copies: the chunk can go back right after
                }
                _fillRing[fillProd++ & _fillMask] = addr & ~((ulong)ChunkSize - 1);
            }
            // Release: the fill entries written above are visible before the kernel sees the new fill producer.
            Volatile.Write(ref *_fillProd, fillProd);
            // Release: our reads of these descriptors (and their data) are done before the kernel may reuse the slots.
            Volatile.Write(ref *_rxCons, cons);
            if (Environment.TickCount64 >= nextStats) { ReadStats(writer); nextStats = Environment.TickCount64 + 1000; }
        }
        ReadStats(writer);
    }

    /// <summary>XDP_STATISTICS is cumulative in the kernel (no reset on read). Capture thread only.</summary>
    private void ReadStats(CaptureWriter writer)
    {
        var s = Libc.GetOpt<XdpStatistics>(_fd.Fd, Libc.SOL_XDP, XDP_STATISTICS, "XDP_STATISTICS");
        Volatile.Write(ref Counters.RxDropped, (long)s.RxDropped);
        Volatile.Write(ref Counters.RxInvalidDescs, (long)s.RxInvalidDescs);
        Volatile.Write(ref Counters.RxRingFull, (long)s.RxRingFull);
        Volatile.Write(ref Counters.RxFillRingEmpty, (long)s.RxFillRingEmptyDescs);
        writer.CountSourceDrops((long)(s.RxDropped + s.RxRingFull) + Counters.Oversize);
    }

    public void Dispose()
    {
        _rxMap?.Dispose();
        _fillMap?.Dispose();
        _fd?.Dispose();
        _umem?.Dispose(); // after the socket: the kernel has let go of the pages
    }
}
