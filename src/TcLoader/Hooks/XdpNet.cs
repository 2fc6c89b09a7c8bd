using System.Runtime.InteropServices;
using System.Text.Json;
using Tap.Interop;

namespace Tap.TcLoader.Hooks;

/// <summary>A veth's other end: its name and ifindex in its own namespace (null Netns: ours).</summary>
public sealed record VethPeer(string Name, int Ifindex, string? Netns);

/// <summary>
/// What the XDP backend needs to know about devices beyond NetDev: veth peers (possibly in another
/// network namespace), XDP links created with explicit mode flags, and work done inside another
/// namespace. setns applies to one thread only, so that work runs on a dedicated Thread that enters
/// the namespace, does the call and goes back (cilium/ebpf does the same on a locked OS thread).
/// </summary>
public static unsafe partial class XdpNet
{
    public const uint XdpFlagsSkbMode = XdpLink.FlagsSkbMode, XdpFlagsDrvMode = XdpLink.FlagsDrvMode;
    public const byte XdpAttachedDrv = 1, XdpAttachedSkb = 2, XdpAttachedHw = 3, XdpAttachedMulti = 4;
    private const int CloneNewNet = 0x40000000;

    // int setns(int fd, int nstype);
    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int setns(int fd, int nstype);

    // int open(const char *path, int flags);
    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int open(string path, int flags);

    public static int CreateXdpLink(int progFd, int ifindex, uint flags) => XdpLink.Create(progFd, ifindex, flags);

    /// <summary>The XDP program on a device in the current namespace: (prog id, attach mode), (0, 0) when none.</summary>
    public static (uint ProgId, byte Mode) Query(int ifindex)
    {
        var q = BpfXdpQueryOpts.Create();
        int r = Libbpf.bpf_xdp_query(ifindex, 0, ref q);
        return r < 0 ? (0u, (byte)0) : (q.ProgId, q.AttachMode);
    }

    public static string ModeName(byte mode) => mode switch
    {
        XdpAttachedDrv => "native", XdpAttachedSkb => "generic", XdpAttachedHw => "offload", XdpAttachedMulti => "multi", _ => "none",
    };

    /// <summary>Runs <paramref name="work"/> inside network namespace <paramref name="netns"/> (a name under /var/run/netns), or here when null.</summary>
    public static T InNetns<T>(string? netns, Func<T> work)
    {
        if (netns == null) return work();
        T result = default!;
        Exception? error = null;
        var t = new Thread(() =>
        {
            int self = open("/proc/thread-self/ns/net", 0x80000 /* O_CLOEXEC */);
            int target = open($"/var/run/netns/{netns}", 0x80000);
            try
            {
                if (self < 0 || target < 0) throw new TapUsageException($"network namespace '{netns}' not found");
                if (setns(target, CloneNewNet) != 0)
                    throw new BpfException("setns", Marshal.GetLastPInvokeError(), netns);
                try { result = work(); }
                finally
                {
                    // Back to where the thread started, so the runtime never reuses it in the wrong namespace.
                    if (setns(self, CloneNewNet) != 0) Environment.FailFast($"setns back from {netns} failed");
                }
            }
            catch (Exception e) { error = e; }
            finally
            {
                if (self >= 0) Libc.close(self);
                if (target >= 0) Libc.close(target);
            }
        }) { IsBackground = true, Name = $"netns-{netns}" };
        t.Start();
        t.Join();
        if (error != null) throw error;
        return result;
    }

    /// <summary>The other end of veth <paramref name="ifname"/>, or null if it is not a veth.</summary>
    public static VethPeer? PeerOf(string ifname)
    {
        var link = IpJson($"-j -d link show dev {ifname}");
        if (link == null || link.Value.GetArrayLength() == 0) return null;
        var me = link.Value[0];
        if (!me.TryGetProperty("linkinfo", out var li) || !li.TryGetProperty("info_kind", out var kind) || kind.GetString() != "veth")
            return null;
        // ip prints link_index only for a peer in another namespace; sysfs iflink always has it.
        int peerIndex = me.TryGetProperty("link_index", out var li2) ? li2.GetInt32() : IfLink(ifname);
        if (peerIndex <= 0) return null;
        if (!me.TryGetProperty("link_netnsid", out var nsid))
        {
            var name = NetDev.Name(peerIndex);
            return name == null ? null : new VethPeer(name, peerIndex, null);
        }
        var nsList = IpJson("-j netns list");
        string? ns = null;
        if (nsList != null)
            foreach (var n in nsList.Value.EnumerateArray())
                if (n.TryGetProperty("id", out var id) && id.GetInt32() == nsid.GetInt32())
                    ns = n.GetProperty("name").GetString();
        if (ns == null) return null; // a namespace without a name (a container's): nothing we can enter by name
        var links = IpJson($"-n {ns} -j link show");
        if (links == null) return null;
        foreach (var l in links.Value.EnumerateArray())
            if (l.GetProperty("ifindex").GetInt32() == peerIndex)
                return new VethPeer(l.GetProperty("ifname").GetString()!, peerIndex, ns);
        return null;
    }

    private static int IfLink(string ifname)
    {
        try { return int.Parse(File.ReadAllText($"/sys/class/net/{ifname}/iflink").Trim()); }
        catch (Exception e) when (e is IOException or FormatException) { return 0; }
    }

    private static JsonElement? IpJson(string args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("ip", args)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        using var p = System.Diagnostics.Process.Start(psi)!;
        string o = p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        if (!p.WaitForExit(10_000)) { p.Kill(); return null; }
        if (p.ExitCode != 0 || string.IsNullOrWhiteSpace(o)) return null;
        return JsonDocument.Parse(o).RootElement.Clone();
    }
}
