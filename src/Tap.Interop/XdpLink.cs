using System.Runtime.InteropServices;

namespace Tap.Interop;

/// <summary>
/// XDP attached through a BPF link (kernel 5.9+): the program goes away with the last reference to the
/// link, so a killed process leaves nothing attached unless the link was pinned on purpose.
/// </summary>
public static unsafe class XdpLink
{
    public const int BpfXdp = 37;                 // enum bpf_attach_type BPF_XDP
    public const uint FlagsSkbMode = 2, FlagsDrvMode = 4;

    // struct bpf_link_create_opts { size_t sz; __u32 flags; ... }: only the flags are used, so sz covers them.
    [StructLayout(LayoutKind.Sequential)]
    private struct LinkCreateOpts { public nuint Size; public uint Flags; public uint Pad; }

    /// <summary>bpf_link_create(BPF_XDP) with XDP_FLAGS_*_MODE: a link fd, or a negative errno.</summary>
    public static int Create(int progFd, int ifindex, uint modeFlags)
    {
        var o = new LinkCreateOpts { Size = (nuint)sizeof(LinkCreateOpts), Flags = modeFlags };
        return Libbpf.bpf_link_create(progFd, ifindex, BpfXdp, (nint)(&o));
    }
}
