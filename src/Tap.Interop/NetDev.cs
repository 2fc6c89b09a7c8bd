using System.Runtime.InteropServices;

namespace Tap.Interop;

/// <summary>Interface names and indices, and the device counters the kernel keeps in sysfs.</summary>
public static unsafe class NetDev
{
    public static bool Exists(string name) => TryIndex(name, out _);

    public static bool TryIndex(string name, out int ifindex)
    {
        ifindex = 0;
        if (string.IsNullOrEmpty(name) || name.Length > 15 || name.Contains('/')) return false;
        ifindex = (int)Libc.if_nametoindex(name);
        return ifindex > 0;
    }

    /// <summary>The ifindex of <paramref name="name"/>, or a usage error naming it.</summary>
    public static int Index(string name) =>
        TryIndex(name, out int i) ? i : throw new TapUsageException($"unknown interface '{name}'");

    public static string? Name(int ifindex)
    {
        byte* buf = stackalloc byte[16];
        if (Libc.if_indextoname((uint)ifindex, buf) == 0) return null;
        return Marshal.PtrToStringUTF8((nint)buf);
    }

    /// <summary>A counter from /sys/class/net/IF/statistics (rx_packets, tx_dropped ...), or null.</summary>
    public static ulong? Counter(string name, string counter)
    {
        try { return ulong.Parse(File.ReadAllText($"/sys/class/net/{name}/statistics/{counter}").Trim()); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    public static int? Mtu(string name)
    {
        try { return int.Parse(File.ReadAllText($"/sys/class/net/{name}/mtu").Trim()); }
        catch (IOException) { return null; }
    }

    public static bool IsUp(string name)
    {
        try { return File.ReadAllText($"/sys/class/net/{name}/operstate").Trim() is "up" or "unknown"; }
        catch (IOException) { return false; }
    }
}
