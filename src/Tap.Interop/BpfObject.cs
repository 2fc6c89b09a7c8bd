namespace Tap.Interop;

/// <summary>An opened (and, after <see cref="Load"/>, loaded) BPF ELF object.</summary>
public sealed class BpfObject : IDisposable
{
    private readonly BpfObjectHandle _obj;
    public string Path { get; }

    private BpfObject(BpfObjectHandle obj, string path) { _obj = obj; Path = path; }

    public static BpfObject Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"BPF object not found: {path}", path);
        Libbpf.SilenceLogging();
        nint p = Libbpf.bpf_object__open_file(path, 0);
        if (p == 0) throw new BpfException("bpf_object__open_file", System.Runtime.InteropServices.Marshal.GetLastPInvokeError(), path);
        var h = new BpfObjectHandle();
        h.Set(p);
        return new BpfObject(h, path);
    }

    /// <summary>Makes the object use an existing map (a pinned one) instead of creating its own.</summary>
    public void ReuseMap(string name, FdHandle fd) =>
        BpfException.Check(Libbpf.bpf_map__reuse_fd(FindMap(name), fd.Fd), "bpf_map__reuse_fd", name);

    /// <summary>The map as the object defines it (before load), to compare with a pinned map.</summary>
    public (uint Type, uint KeySize, uint ValueSize, uint MaxEntries) MapDef(string name)
    {
        nint m = FindMap(name);
        return ((uint)Libbpf.bpf_map__type(m), Libbpf.bpf_map__key_size(m), Libbpf.bpf_map__value_size(m), Libbpf.bpf_map__max_entries(m));
    }

    public void SetAutoload(string program, bool autoload) =>
        BpfException.Check(Libbpf.bpf_program__set_autoload(FindProgram(program), autoload), "bpf_program__set_autoload", program);

    public void Load() => BpfException.Check(Libbpf.bpf_object__load(_obj), "bpf_object__load", Path);

    /// <summary>The program's descriptor; owned by the object, valid until it is disposed.</summary>
    public int ProgramFd(string name)
    {
        int fd = Libbpf.bpf_program__fd(FindProgram(name));
        return BpfException.Check(fd, "bpf_program__fd", name);
    }

    /// <summary>The map's descriptor; owned by the object, valid until it is disposed.</summary>
    public int MapFd(string name) => BpfException.Check(Libbpf.bpf_map__fd(FindMap(name)), "bpf_map__fd", name);

    /// <summary>A descriptor of our own (dup'd) for a map, which outlives this object.</summary>
    public FdHandle DupMap(string name) => Dup(MapFd(name), name);
    public FdHandle DupProgram(string name) => Dup(ProgramFd(name), name);

    private static FdHandle Dup(int fd, string what)
    {
        int d = Libc.dup(fd);
        return new FdHandle(BpfException.CheckErrno(d, "dup", what));
    }

    private nint FindProgram(string name)
    {
        nint p = Libbpf.bpf_object__find_program_by_name(_obj, name);
        return p != 0 ? p : throw new BpfException("bpf_object__find_program_by_name", 2, $"{name} in {Path}");
    }

    private nint FindMap(string name)
    {
        nint m = Libbpf.bpf_object__find_map_by_name(_obj, name);
        return m != 0 ? m : throw new BpfException("bpf_object__find_map_by_name", 2, $"{name} in {Path}");
    }

    public void Dispose() => _obj.Dispose();
}
