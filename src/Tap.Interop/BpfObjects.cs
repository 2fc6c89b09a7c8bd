namespace Tap.Interop;

/// <summary>Where the compiled BPF objects are, for both commands.</summary>
public static class BpfObjects
{
    /// <summary>TAP_BPF_DIR (set by bin/tcloader and bin/recorder), else the first bpf/NAME at or above the program's directory.</summary>
    public static string? Find(string name)
    {
        if (Environment.GetEnvironmentVariable("TAP_BPF_DIR") is { Length: > 0 } env)
            return File.Exists(Path.Combine(env, name)) ? Path.Combine(env, name) : null;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            string p = Path.Combine(d.FullName, "bpf", name);
            if (File.Exists(p)) return p;
        }
        return null;
    }
}
