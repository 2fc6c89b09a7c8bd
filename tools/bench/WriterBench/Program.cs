// WriterBench: pushes N GiB of realistic frames through CaptureWriter (the recorder's writer, unchanged) and prints one
// JSON line: input bytes, file bytes, wall seconds, MB/s (file bytes / wall, fsync included), process CPU seconds,
// the I/O thread's CPU seconds, peak RSS (VmHWM) and drops. The producer waits for a free block (the recorder itself
// never waits: it drops and counts), so the figure is what the disk path sustains.
//   WriterBench --dir D [--gib 4] [--format pcap|pcapng] [--lz4] [--buf BYTES] [--blocks N] [--frame 1514] [--fill lab|ramp]
// Fill rules: lab = tests' Kit.LabFrame (seeded random payload: incompressible, LZ4 is not flattered);
//             ramp = tapgen's fill[i] = (uint8_t)(seq*31 + i) (very compressible).
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Tap.Recorder.Capture;

string dir = "/var/tmp"; double gib = 4; var fmt = CaptureFormat.Pcap; bool lz4 = false;
int buf = new CaptureOptions("", CaptureFormat.Pcap, false, 0, 0, 0, "").BufferBytes;
int blocks = new CaptureOptions("", CaptureFormat.Pcap, false, 0, 0, 0, "").Blocks;
int frameLen = 1514; string fill = "lab"; bool noPace = false;
for (int i = 0; i < args.Length; i++)
{
    string a = args[i];
    string V() => args[++i];
    switch (a)
    {
        case "--dir": dir = V(); break;
        case "--gib": gib = double.Parse(V(), CultureInfo.InvariantCulture); break;
        case "--format": fmt = V() == "pcapng" ? CaptureFormat.Pcapng : CaptureFormat.Pcap; break;
        case "--lz4": lz4 = true; break;
        case "--buf": buf = int.Parse(V(), CultureInfo.InvariantCulture); break;
        case "--blocks": blocks = int.Parse(V(), CultureInfo.InvariantCulture); break;
        case "--frame": frameLen = int.Parse(V(), CultureInfo.InvariantCulture); break;
        case "--fill": fill = V(); break;
        case "--no-pace": noPace = true; break;
        default: Console.Error.WriteLine($"WriterBench: unknown argument {a}"); return 2;
    }
}

const int NFrames = 1024; // 1.5 MB of distinct frames: far beyond LZ4's 64 KiB window
var frames = new byte[NFrames][];
for (int i = 0; i < NFrames; i++) frames[i] = Frame(1, (ulong)i, frameLen, fill);

long target = (long)(gib * (1L << 30));
var opts = new CaptureOptions(dir, fmt, lz4, 0, 0, 0, "bench0", BufferBytes: buf, Blocks: blocks, FilePrefix: "wbench");
var proc = Process.GetCurrentProcess();
GC.Collect();
var cpu0 = proc.TotalProcessorTime;
var sw = Stopwatch.StartNew();
long inBytes = 0, n = 0, waits = 0;
double ioCpu = 0;
WriterStats st;
using (var w = new CaptureWriter(opts, _ => { }))
{
    int ioTid = FindThread("capture-io");
    long t0 = (long)(DateTime.UnixEpoch.AddSeconds(1_750_000_000) - DateTime.UnixEpoch).Ticks * 100;
    while (inBytes < target)
    {
        var f = frames[n & (NFrames - 1)];
        if (!noPace) while (w.FreeBlocks < 2) { waits++; Thread.Sleep(0); }
        w.Write(f, f.Length, t0 + n * 1000);
        inBytes += f.Length; n++;
    }
    ioCpu = ThreadCpu(ioTid);
    w.Complete();
    st = w.Stats;
}
sw.Stop();
proc.Refresh();
double cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds, sec = sw.Elapsed.TotalSeconds;
long hwm = Status("VmHWM");
foreach (var f in st.Files) File.Delete(f);
var ci = CultureInfo.InvariantCulture;
Console.WriteLine(string.Format(ci,
    "{{\"format\":\"{0}\",\"lz4\":{1},\"fill\":\"{2}\",\"frame\":{3},\"buf\":{4},\"blocks\":{5},\"frames\":{6},\"input_bytes\":{7},\"file_bytes\":{8}," +
    "\"seconds\":{9:F3},\"mb_s\":{10:F1},\"input_mb_s\":{11:F1},\"cpu_s\":{12:F3},\"io_thread_cpu_s\":{13:F3},\"vmhwm_kib\":{14},\"queue_drops\":{15},\"direct\":{16},\"producer_waits\":{17}}}",
    fmt.ToString().ToLowerInvariant(), lz4 ? "true" : "false", fill, frameLen, buf, blocks, st.Frames, st.Bytes, st.FileBytesWritten,
    sec, st.FileBytesWritten / sec / 1e6, st.Bytes / sec / 1e6, cpu, ioCpu, hwm, st.QueueDrops, st.DirectIo ? "true" : "false", waits));
return st.QueueDrops == 0 || noPace ? 0 : 1;

static byte[] Frame(uint stream, ulong seq, int size, string fill)
{
    var f = new byte[size];
    byte[] dst = [0x02, 0x74, 0x61, 0x70, 0, 2], src = [0x02, 0x74, 0x61, 0x70, 0, 1];
    dst.CopyTo(f, 0); src.CopyTo(f, 6);
    BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x0800);
    int o = 14, ipLen = size - o;
    f[o] = 0x45; BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(o + 2), (ushort)ipLen);
    f[o + 8] = 64; f[o + 9] = 17;
    new byte[] { 198, 18, 0, 1 }.CopyTo(f, o + 12); new byte[] { 198, 18, 0, 2 }.CopyTo(f, o + 16);
    int u = o + 20;
    BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(u), 4000); BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(u + 2), 5000);
    BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(u + 4), (ushort)(ipLen - 20));
    int p = u + 8;
    BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(p), 0x54415053);
    BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(p + 4), stream);
    BinaryPrimitives.WriteUInt64BigEndian(f.AsSpan(p + 8), seq);
    if (fill == "ramp") { for (int i = p + 16; i < size; i++) f[i] = (byte)(seq * 31 + (ulong)(i - p - 16)); }
    else new Random((int)(seq * 31 + stream)).NextBytes(f.AsSpan(p + 16));
    return f;
}

static int FindThread(string name)
{
    for (int k = 0; k < 200; k++)
    {
        foreach (var t in Directory.GetDirectories("/proc/self/task"))
            try { if (File.ReadAllText(Path.Combine(t, "comm")).Trim() == name) return int.Parse(Path.GetFileName(t)); } catch (IOException) { }
        Thread.Sleep(5);
    }
    return -1;
}

static double ThreadCpu(int tid)
{
    if (tid < 0) return -1;
    try
    {
        var s = File.ReadAllText($"/proc/self/task/{tid}/stat");
        var rest = s[(s.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(rest[11]) + long.Parse(rest[12])) / 100.0; // utime, stime in clock ticks (USER_HZ 100)
    }
    catch (IOException) { return -1; }
}

static long Status(string key)
{
    foreach (var l in File.ReadAllLines("/proc/self/status"))
        if (l.StartsWith(key + ":")) return long.Parse(l[(key.Length + 1)..].Trim().Split(' ')[0]);
    return -1;
}
