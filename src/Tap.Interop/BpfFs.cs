namespace Tap.Interop;

/// <summary>bpffs: found where it is, mounted only where none is (a second mount hides every pin underneath).</summary>
public static class BpfFs
{
    public const string DefaultRoot = "/sys/fs/bpf";

    public static bool IsMounted(string root = DefaultRoot) =>
        File.ReadLines("/proc/mounts").Select(l => l.Split(' ')).Any(f => f.Length > 2 && f[1] == root && f[2] == "bpf");

    public static void EnsureMounted(string root = DefaultRoot)
    {
        if (IsMounted(root)) return;
        Directory.CreateDirectory(root);
        BpfException.CheckErrno(Libc.mount("bpf", root, "bpf", 0, 0), "mount(bpf)", root);
    }

    /// <summary>Pins <paramref name="fd"/> at <paramref name="path"/>, replacing a stale pin of the same name.</summary>
    public static void Pin(int fd, string path)
    {
        if (File.Exists(path)) File.Delete(path);
        BpfException.Check(Libbpf.bpf_obj_pin(fd, path), "bpf_obj_pin", path);
    }

    /// <summary>Opens a pinned object, or null if nothing is pinned there.</summary>
    public static FdHandle? TryGet(string path)
    {
        if (!File.Exists(path)) return null;
        int fd = Libbpf.bpf_obj_get(path);
        return fd < 0 ? null : new FdHandle(fd);
    }
}
