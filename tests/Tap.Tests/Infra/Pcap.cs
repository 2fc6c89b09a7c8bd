using System.Buffers.Binary;

namespace Tap.Tests.Infra;

/// <summary>
/// A minimal reader of what tcpdump and the recorder write: pcap (both magics, both byte orders) and
/// pcapng EPBs. Strict: a cut record throws, so a test can never count half a file as whole.
/// </summary>
public static class Pcap
{
    public static List<byte[]> ReadFrames(string path) => Frames(File.ReadAllBytes(path)).ToList();

    public static IEnumerable<byte[]> Frames(byte[] f)
    {
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(f);
        if (magic is 0xa1b2c3d4 or 0xa1b23c4d or 0xd4c3b2a1 or 0x4d3cb2a1)
        {
            bool le = magic is 0xa1b2c3d4 or 0xa1b23c4d;
            for (int o = 24; o + 16 <= f.Length;)
            {
                var at = f.AsSpan(o + 8);
                int cap = le ? BinaryPrimitives.ReadInt32LittleEndian(at) : BinaryPrimitives.ReadInt32BigEndian(at);
                yield return f.AsSpan(o + 16, cap).ToArray();
                o += 16 + cap;
            }
        }
        else if (magic == 0x0A0D0D0A)
        {
            for (int o = 0; o + 12 <= f.Length;)
            {
                uint type = BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(o));
                int len = BinaryPrimitives.ReadInt32LittleEndian(f.AsSpan(o + 4));
                if (len < 12) throw new InvalidDataException($"pcapng block of length {len} at {o}");
                if (type == 6)
                {
                    int cap = BinaryPrimitives.ReadInt32LittleEndian(f.AsSpan(o + 20));
                    yield return f.AsSpan(o + 28, cap).ToArray();
                }
                o += len;
            }
        }
        else throw new InvalidDataException($"not a capture file (magic {magic:x8})");
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
