using System.Runtime.CompilerServices;
using System.Text;

namespace Tap.Interop;

public sealed record BpfProgInfo(uint Id, uint Type, string Name);
public sealed record BpfLinkInfo(uint Id, uint Type, uint ProgId, int Ifindex, uint AttachType);
public sealed record BpfMapInfo(uint Id, uint Type, string Name, uint KeySize, uint ValueSize, uint MaxEntries);

/// <summary>
/// Enumerates the kernel's programs, links and maps (what `bpftool prog/link/map` show), for status,
/// for finding what an earlier run left behind, and for tests that check nothing is left.
/// Offsets are those of struct bpf_prog_info / bpf_link_info / bpf_map_info in linux/bpf.h, which only grow.
/// </summary>
public static unsafe class BpfIntrospect
{
    public const uint LinkTypeXdp = 6, LinkTypeTcx = 11;

    public static List<BpfProgInfo> Programs() => Walk(Libbpf.bpf_prog_get_next_id, Libbpf.bpf_prog_get_fd_by_id, ProgInfo);
    public static List<BpfLinkInfo> Links() => Walk(Libbpf.bpf_link_get_next_id, Libbpf.bpf_link_get_fd_by_id, LinkInfo);
    public static List<BpfMapInfo> Maps() => Walk(Libbpf.bpf_map_get_next_id, Libbpf.bpf_map_get_fd_by_id, MapInfo);

    private delegate int NextId(uint start, out uint next);

    private static List<T> Walk<T>(NextId next, Func<uint, int> open, Func<int, T> info) where T : class
    {
        var list = new List<T>();
        uint id = 0;
        while (next(id, out uint n) == 0)
        {
            id = n;
            int fd = open(id);
            if (fd < 0) continue; // gone between the two calls
            using var h = new FdHandle(fd);
            list.Add(info(fd));
        }
        return list;
    }

    public static BpfProgInfo ProgInfo(int fd)
    {
        byte* b = stackalloc byte[256];
        Info(fd, b, 256, "prog");
        return new BpfProgInfo(U32(b, 4), U32(b, 0), Str(b + 64, 16));
    }

    public static BpfLinkInfo LinkInfo(int fd)
    {
        byte* b = stackalloc byte[128];
        Info(fd, b, 128, "link");
        uint type = U32(b, 0);
        // union at offset 16: tcx { ifindex, attach_type }, xdp { ifindex }.
        int ifindex = type is LinkTypeTcx or LinkTypeXdp ? (int)U32(b, 16) : 0;
        uint attach = type == LinkTypeTcx ? U32(b, 20) : 0;
        return new BpfLinkInfo(U32(b, 4), type, U32(b, 8), ifindex, attach);
    }

    public static BpfMapInfo MapInfo(int fd)
    {
        byte* b = stackalloc byte[128];
        Info(fd, b, 128, "map");
        return new BpfMapInfo(U32(b, 4), U32(b, 0), Str(b + 24, 16), U32(b, 8), U32(b, 12), U32(b, 16));
    }

    private static void Info(int fd, byte* buf, uint len, string what)
    {
        new Span<byte>(buf, (int)len).Clear();
        BpfException.Check(Libbpf.bpf_obj_get_info_by_fd(fd, buf, ref len), "bpf_obj_get_info_by_fd", what);
    }

    private static uint U32(byte* b, int off) => Unsafe.ReadUnaligned<uint>(b + off);

    private static string Str(byte* b, int max)
    {
        int n = 0;
        while (n < max && b[n] != 0) n++;
        return Encoding.UTF8.GetString(b, n);
    }
}
