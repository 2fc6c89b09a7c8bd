using System.Buffers.Binary;

namespace Tap.Tests.Infra;

/// <summary>A minimal pcap reader (both magics, both endians) for captures tcpdump wrote in a test.</summary>
public static class Pcap
{
    public static List<byte[]> ReadFrames(string path)
    {
        var b = File.ReadAllBytes(path);
        var frames = new List<byte[]>();
        if (b.Length < 24) return frames;
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(b);
        bool le = magic is 0xa1b2c3d4 or 0xa1b23c4d;
        uint U32(int o) => le ? BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(o)) : BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(o));
        int off = 24;
        while (off + 16 <= b.Length)
        {
            int caplen = (int)U32(off + 8);
            if (off + 16 + caplen > b.Length) break;
            frames.Add(b.AsSpan(off + 16, caplen).ToArray());
            off += 16 + caplen;
        }
        return frames;
    }
}

/// <summary>tcpdump -w in a namespace, inbound frames only, stopped with SIGINT.</summary>
public sealed class NsCapture : IDisposable
{
    private readonly System.Diagnostics.Process _p;
    public string File { get; }
    public RunResult? LastRun { get; private set; }

    public NsCapture(string ns, string iface, int snaplen = 65535)
    {
        File = Path.Combine(Path.GetTempPath(), $"tapcap-{Guid.NewGuid():N}.pcap");
        string args = $"-i {iface} -Q in -U --immediate-mode -s {snaplen} -w {File}"; // immediate: no frame waits in a ring block when SIGINT comes
        _p = ns == "" ? Run.Start("tcpdump", args) : Run.Start("ip", $"netns exec {ns} tcpdump {args}");
        var end = DateTime.UtcNow.AddSeconds(10);
        // tcpdump says "listening on" once its socket is bound: only then can nothing be missed.
        while (!Run.PeekStderr(_p).Contains("listening on") && DateTime.UtcNow < end && !_p.HasExited) Thread.Sleep(20);
        if (_p.HasExited) throw new InvalidOperationException("tcpdump exited: " + Run.Wait(_p, 1000));
    }

    public List<byte[]> Stop()
    {
        Thread.Sleep(300);
        if (!_p.HasExited) Run.Cmd("kill", $"-INT {_p.Id}");
        LastRun = Run.Wait(_p, 10_000);
        return Pcap.ReadFrames(File);
    }

    public void Dispose()
    {
        try { if (!_p.HasExited) _p.Kill(); } catch (InvalidOperationException) { }
        if (System.IO.File.Exists(File)) System.IO.File.Delete(File);
    }
}

/// <summary>Sends exact frames from inside a namespace through an AF_PACKET socket (python3, one call).</summary>
public static class RawSend
{
    public static void Frames(string ns, string iface, IEnumerable<byte[]> frames)
    {
        var hex = string.Join(",", frames.Select(Convert.ToHexString));
        var py = "import socket,sys; s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW); s.bind((sys.argv[1],0)); " +
                 "[s.send(bytes.fromhex(h)) for h in sys.argv[2].split(',')]";
        var r = Run.Cmd("ip", $"netns exec {ns} python3 -c \"{py}\" {iface} {hex}");
        if (r.ExitCode != 0) throw new InvalidOperationException("raw send failed: " + r);
    }
}
