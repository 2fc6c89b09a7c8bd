using System.Runtime.CompilerServices;

namespace Tap.Interop;

/// <summary>Typed access to one BPF map through a descriptor we own.</summary>
public sealed unsafe class BpfMap<TKey, TValue> : IDisposable
    where TKey : unmanaged where TValue : unmanaged
{
    public FdHandle Handle { get; }
    public string Name { get; }

    public BpfMap(FdHandle handle, string name) { Handle = handle; Name = name; }

    public static BpfMap<TKey, TValue> OpenPinned(string path) =>
        new(FdHandle.FromLibbpf(Libbpf.bpf_obj_get(path), "bpf_obj_get", path), Path.GetFileName(path));

    public void Update(TKey key, TValue value, ulong flags = 0) =>
        BpfException.Check(Libbpf.bpf_map_update_elem(Handle.Fd, &key, &value, flags), "bpf_map_update_elem", Name);

    public bool TryLookup(TKey key, out TValue value)
    {
        TValue v;
        int r = Libbpf.bpf_map_lookup_elem(Handle.Fd, &key, &v);
        if (r == -2 /* ENOENT */) { value = default; return false; }
        BpfException.Check(r, "bpf_map_lookup_elem", Name);
        value = v;
        return true;
    }

    public bool Delete(TKey key)
    {
        int r = Libbpf.bpf_map_delete_elem(Handle.Fd, &key);
        if (r == -2) return false;
        BpfException.Check(r, "bpf_map_delete_elem", Name);
        return true;
    }

    public List<TKey> Keys()
    {
        var keys = new List<TKey>();
        TKey cur = default, next;
        void* prev = null;
        while (Libbpf.bpf_map_get_next_key(Handle.Fd, prev, &next) == 0)
        {
            keys.Add(next);
            cur = next;
            prev = &cur;
        }
        return keys;
    }

    /// <summary>
    /// Reads a per-CPU value: the kernel copies one value per possible CPU, each rounded up to 8 bytes.
    /// </summary>
    public TValue[] LookupPerCpu(TKey key)
    {
        int cpus = Libbpf.PossibleCpus();
        int stride = (sizeof(TValue) + 7) & ~7;
        byte[] buf = new byte[stride * cpus];
        fixed (byte* p = buf)
            BpfException.Check(Libbpf.bpf_map_lookup_elem(Handle.Fd, &key, p), "bpf_map_lookup_elem", Name);
        var values = new TValue[cpus];
        fixed (byte* p = buf)
            for (int i = 0; i < cpus; i++) values[i] = Unsafe.ReadUnaligned<TValue>(p + i * stride);
        return values;
    }

    /// <summary>Writes the same value to every CPU's copy (used to zero counters).</summary>
    public void UpdatePerCpu(TKey key, TValue value)
    {
        int cpus = Libbpf.PossibleCpus();
        int stride = (sizeof(TValue) + 7) & ~7;
        byte[] buf = new byte[stride * cpus];
        fixed (byte* p = buf)
        {
            for (int i = 0; i < cpus; i++) Unsafe.WriteUnaligned(p + i * stride, value);
            BpfException.Check(Libbpf.bpf_map_update_elem(Handle.Fd, &key, p, 0), "bpf_map_update_elem", Name);
        }
    }

    public void Dispose() => Handle.Dispose();
}
