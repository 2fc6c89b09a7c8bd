using System.Runtime.InteropServices;

namespace Tap.Interop;

/// <summary>
/// libbpf (Debian's libbpf1, 1.1+) through source-generated P/Invoke. Every function
/// here returns a negative errno on failure (libbpf 1.0 error mode), or NULL with errno set.
/// The C prototype sits beside each import.
/// </summary>
public static unsafe partial class Libbpf
{
    private const string Lib = "libbpf.so.1";

    // struct bpf_object *bpf_object__open_file(const char *path, const struct bpf_object_open_opts *opts);
    [LibraryImport(Lib, EntryPoint = "bpf_object__open_file", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial nint bpf_object__open_file(string path, nint opts);

    // int bpf_object__load(struct bpf_object *obj);
    [LibraryImport(Lib, EntryPoint = "bpf_object__load")]
    internal static partial int bpf_object__load(BpfObjectHandle obj);

    // void bpf_object__close(struct bpf_object *obj);
    [LibraryImport(Lib, EntryPoint = "bpf_object__close")]
    internal static partial void bpf_object__close(nint obj);

    // struct bpf_program *bpf_object__find_program_by_name(const struct bpf_object *obj, const char *name);
    [LibraryImport(Lib, EntryPoint = "bpf_object__find_program_by_name", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint bpf_object__find_program_by_name(BpfObjectHandle obj, string name);

    // struct bpf_map *bpf_object__find_map_by_name(const struct bpf_object *obj, const char *name);
    [LibraryImport(Lib, EntryPoint = "bpf_object__find_map_by_name", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint bpf_object__find_map_by_name(BpfObjectHandle obj, string name);

    // int bpf_program__fd(const struct bpf_program *prog);
    [LibraryImport(Lib, EntryPoint = "bpf_program__fd")]
    internal static partial int bpf_program__fd(nint prog);

    // int bpf_program__set_autoload(struct bpf_program *prog, bool autoload);
    [LibraryImport(Lib, EntryPoint = "bpf_program__set_autoload")]
    internal static partial int bpf_program__set_autoload(nint prog, [MarshalAs(UnmanagedType.U1)] bool autoload);

    // int bpf_program__set_type(struct bpf_program *prog, enum bpf_prog_type type);
    [LibraryImport(Lib, EntryPoint = "bpf_program__set_expected_attach_type")]
    internal static partial int bpf_program__set_expected_attach_type(nint prog, int type);

    // int bpf_map__fd(const struct bpf_map *map);
    [LibraryImport(Lib, EntryPoint = "bpf_map__fd")]
    internal static partial int bpf_map__fd(nint map);

    // enum bpf_map_type bpf_map__type(const struct bpf_map *map);
    [LibraryImport(Lib, EntryPoint = "bpf_map__type")]
    internal static partial int bpf_map__type(nint map);

    // __u32 bpf_map__key_size(const struct bpf_map *map);
    [LibraryImport(Lib, EntryPoint = "bpf_map__key_size")]
    internal static partial uint bpf_map__key_size(nint map);

    // __u32 bpf_map__value_size(const struct bpf_map *map);
    [LibraryImport(Lib, EntryPoint = "bpf_map__value_size")]
    internal static partial uint bpf_map__value_size(nint map);

    // __u32 bpf_map__max_entries(const struct bpf_map *map);
    [LibraryImport(Lib, EntryPoint = "bpf_map__max_entries")]
    internal static partial uint bpf_map__max_entries(nint map);

    // int bpf_map__reuse_fd(struct bpf_map *map, int fd);
    [LibraryImport(Lib, EntryPoint = "bpf_map__reuse_fd")]
    internal static partial int bpf_map__reuse_fd(nint map, int fd);

    // int bpf_map__set_max_entries(struct bpf_map *map, __u32 max_entries);
    [LibraryImport(Lib, EntryPoint = "bpf_map__set_max_entries")]
    internal static partial int bpf_map__set_max_entries(nint map, uint maxEntries);

    // int bpf_obj_pin(int fd, const char *pathname);
    [LibraryImport(Lib, EntryPoint = "bpf_obj_pin", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int bpf_obj_pin(int fd, string path);

    // int bpf_obj_get(const char *pathname);
    [LibraryImport(Lib, EntryPoint = "bpf_obj_get", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int bpf_obj_get(string path);

    // int bpf_map_update_elem(int fd, const void *key, const void *value, __u64 flags);
    [LibraryImport(Lib, EntryPoint = "bpf_map_update_elem")]
    internal static partial int bpf_map_update_elem(int fd, void* key, void* value, ulong flags);

    // int bpf_map_lookup_elem(int fd, const void *key, void *value);
    [LibraryImport(Lib, EntryPoint = "bpf_map_lookup_elem")]
    internal static partial int bpf_map_lookup_elem(int fd, void* key, void* value);

    // int bpf_map_delete_elem(int fd, const void *key);
    [LibraryImport(Lib, EntryPoint = "bpf_map_delete_elem")]
    internal static partial int bpf_map_delete_elem(int fd, void* key);

    // int bpf_map_get_next_key(int fd, const void *key, void *next_key);
    [LibraryImport(Lib, EntryPoint = "bpf_map_get_next_key")]
    internal static partial int bpf_map_get_next_key(int fd, void* key, void* nextKey);

    // int bpf_link_create(int prog_fd, int target_fd, enum bpf_attach_type type, const struct bpf_link_create_opts *opts);
    [LibraryImport(Lib, EntryPoint = "bpf_link_create")]
    internal static partial int bpf_link_create(int progFd, int targetFd, int attachType, nint opts);

    // int bpf_link_update(int link_fd, int new_prog_fd, const struct bpf_link_update_opts *opts);
    [LibraryImport(Lib, EntryPoint = "bpf_link_update")]
    internal static partial int bpf_link_update(int linkFd, int newProgFd, nint opts);

    // int bpf_link_detach(int link_fd);
    [LibraryImport(Lib, EntryPoint = "bpf_link_detach")]
    internal static partial int bpf_link_detach(int linkFd);

    // int bpf_tc_hook_create(struct bpf_tc_hook *hook);
    [LibraryImport(Lib, EntryPoint = "bpf_tc_hook_create")]
    internal static partial int bpf_tc_hook_create(ref BpfTcHook hook);

    // int bpf_tc_hook_destroy(struct bpf_tc_hook *hook);
    [LibraryImport(Lib, EntryPoint = "bpf_tc_hook_destroy")]
    internal static partial int bpf_tc_hook_destroy(ref BpfTcHook hook);

    // int bpf_tc_attach(const struct bpf_tc_hook *hook, struct bpf_tc_opts *opts);
    [LibraryImport(Lib, EntryPoint = "bpf_tc_attach")]
    internal static partial int bpf_tc_attach(ref BpfTcHook hook, ref BpfTcOpts opts);

    // int bpf_tc_detach(const struct bpf_tc_hook *hook, const struct bpf_tc_opts *opts);
    [LibraryImport(Lib, EntryPoint = "bpf_tc_detach")]
    internal static partial int bpf_tc_detach(ref BpfTcHook hook, ref BpfTcOpts opts);

    // int bpf_tc_query(const struct bpf_tc_hook *hook, struct bpf_tc_opts *opts);
    [LibraryImport(Lib, EntryPoint = "bpf_tc_query")]
    internal static partial int bpf_tc_query(ref BpfTcHook hook, ref BpfTcOpts opts);

    // int bpf_xdp_attach(int ifindex, int prog_fd, __u32 flags, const struct bpf_xdp_attach_opts *opts);
    [LibraryImport(Lib, EntryPoint = "bpf_xdp_attach")]
    internal static partial int bpf_xdp_attach(int ifindex, int progFd, uint flags, nint opts);

    // int bpf_xdp_detach(int ifindex, __u32 flags, const struct bpf_xdp_attach_opts *opts);
    [LibraryImport(Lib, EntryPoint = "bpf_xdp_detach")]
    internal static partial int bpf_xdp_detach(int ifindex, uint flags, nint opts);

    // int bpf_xdp_query(int ifindex, int flags, struct bpf_xdp_query_opts *opts);
    [LibraryImport(Lib, EntryPoint = "bpf_xdp_query")]
    internal static partial int bpf_xdp_query(int ifindex, int flags, ref BpfXdpQueryOpts opts);

    // int bpf_prog_test_run_opts(int prog_fd, struct bpf_test_run_opts *opts);
    [LibraryImport(Lib, EntryPoint = "bpf_prog_test_run_opts")]
    internal static partial int bpf_prog_test_run_opts(int progFd, ref BpfTestRunOpts opts);

    // int bpf_obj_get_info_by_fd(int bpf_fd, void *info, __u32 *info_len);
    [LibraryImport(Lib, EntryPoint = "bpf_obj_get_info_by_fd")]
    internal static partial int bpf_obj_get_info_by_fd(int fd, void* info, ref uint infoLen);

    // int bpf_prog_get_next_id(__u32 start_id, __u32 *next_id);
    [LibraryImport(Lib, EntryPoint = "bpf_prog_get_next_id")]
    internal static partial int bpf_prog_get_next_id(uint startId, out uint nextId);

    // int bpf_link_get_next_id(__u32 start_id, __u32 *next_id);
    [LibraryImport(Lib, EntryPoint = "bpf_link_get_next_id")]
    internal static partial int bpf_link_get_next_id(uint startId, out uint nextId);

    // int bpf_map_get_next_id(__u32 start_id, __u32 *next_id);
    [LibraryImport(Lib, EntryPoint = "bpf_map_get_next_id")]
    internal static partial int bpf_map_get_next_id(uint startId, out uint nextId);

    // int bpf_link_get_fd_by_id(__u32 id);
    [LibraryImport(Lib, EntryPoint = "bpf_link_get_fd_by_id")]
    internal static partial int bpf_link_get_fd_by_id(uint id);

    // int bpf_prog_get_fd_by_id(__u32 id);
    [LibraryImport(Lib, EntryPoint = "bpf_prog_get_fd_by_id")]
    internal static partial int bpf_prog_get_fd_by_id(uint id);

    // int bpf_map_get_fd_by_id(__u32 id);
    [LibraryImport(Lib, EntryPoint = "bpf_map_get_fd_by_id")]
    internal static partial int bpf_map_get_fd_by_id(uint id);

    // int libbpf_num_possible_cpus(void);
    [LibraryImport(Lib, EntryPoint = "libbpf_num_possible_cpus")]
    internal static partial int libbpf_num_possible_cpus();

    // libbpf_print_fn_t libbpf_set_print(libbpf_print_fn_t fn);
    [LibraryImport(Lib, EntryPoint = "libbpf_set_print")]
    internal static partial nint libbpf_set_print(delegate* unmanaged<int, nint, nint, int> fn);

    /// <summary>Silence libbpf's own stderr output; we report errors ourselves, one line each.</summary>
    public static void SilenceLogging() => libbpf_set_print(&DropLog);

    [UnmanagedCallersOnly]
    private static int DropLog(int level, nint fmt, nint args) => 0;

    public static int PossibleCpus()
    {
        int n = libbpf_num_possible_cpus();
        if (n <= 0) throw new BpfException("libbpf_num_possible_cpus", -n);
        return n;
    }
}

public enum BpfTcAttachPoint { Ingress = 1, Egress = 2, Custom = 4 }

[StructLayout(LayoutKind.Sequential)]
public struct BpfTcHook
{
    public nuint Size;
    public int Ifindex;
    public BpfTcAttachPoint AttachPoint;
    public uint Parent;
    private uint _pad;
    public static BpfTcHook Create(int ifindex, BpfTcAttachPoint point) =>
        new() { Size = (nuint)Marshal.SizeOf<BpfTcHook>(), Ifindex = ifindex, AttachPoint = point };
}

[StructLayout(LayoutKind.Sequential)]
public struct BpfTcOpts
{
    public nuint Size;
    public int ProgFd;
    public uint Flags;
    public uint ProgId;
    public uint Handle;
    public uint Priority;
    private uint _pad;
    public static BpfTcOpts Create() => new() { Size = (nuint)Marshal.SizeOf<BpfTcOpts>() };
}

[StructLayout(LayoutKind.Sequential)]
public struct BpfXdpQueryOpts
{
    public nuint Size;
    public uint ProgId;
    public uint DrvProgId;
    public uint HwProgId;
    public uint SkbProgId;
    public byte AttachMode;
    public static BpfXdpQueryOpts Create() => new() { Size = (nuint)Marshal.SizeOf<BpfXdpQueryOpts>() };
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct BpfTestRunOpts
{
    public nuint Size;
    public void* DataIn;
    public void* DataOut;
    public uint DataSizeIn;
    public uint DataSizeOut;
    public void* CtxIn;
    public void* CtxOut;
    public uint CtxSizeIn;
    public uint CtxSizeOut;
    public uint Retval;
    public int Repeat;
    public uint Duration;
    public uint Flags;
    public uint Cpu;
    public uint BatchSize;
    public static BpfTestRunOpts Create() => new() { Size = (nuint)sizeof(BpfTestRunOpts) };
}
