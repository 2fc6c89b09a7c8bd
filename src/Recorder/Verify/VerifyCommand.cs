using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using Tap.Recorder.Capture;

namespace Tap.Recorder.Verify;

/// <summary>
/// Sequence accounting for one stream: gaps (missing), duplicates and reordered frames, using a sliding window of
/// the last 65536 sequence numbers below the highest seen. A frame older than the window counts as reordered.
/// </summary>
public sealed class SequenceTracker
{
    private const int W = 65536;
    private readonly ulong[] _seen = new ulong[W / 64];
    private ulong _max; private bool _any;
    public long Frames, Missing, Duplicates, Reordered;
    public ulong First, Last;

    private bool Get(ulong s) => (_seen[(s % W) / 64] & (1UL << (int)(s % 64))) != 0;
    private void Set(ulong s) => _seen[(s % W) / 64] |= 1UL << (int)(s % 64);
    private void Clr(ulong s) => _seen[(s % W) / 64] &= ~(1UL << (int)(s % 64));

    public void Add(ulong seq)
    {
        Frames++; Last = seq;
        if (!_any) { _any = true; _max = seq; First = seq; Set(seq); return; }
        if (seq > _max)
        {
            ulong d = seq - _max;
            Missing += (long)Math.Min(d - 1, (ulong)long.MaxValue / 4);
            if (d >= W) Array.Clear(_seen);
            else for (ulong s = _max + 1; s <= seq; s++) Clr(s);
            _max = seq; Set(seq);
        }
        else if (_max - seq >= W) { Reordered++; if (Missing > 0) Missing--; }
        else if (Get(seq)) Duplicates++;
        else { Set(seq); Reordered++; if (Missing > 0) Missing--; }
    }
}

public static class FrameDecoder
{
    public const uint LabMagic = 0x54415053;

    /// <summary>Finds a sequence counter: ("lab", stream id, seq) or ("spead", "port/srcip", heap counter).
    /// SPEAD heaps span packets, so only a heap's first packet (payload offset 0, or no offset item) counts.</summary>
    public static bool TryCounter(ReadOnlySpan<byte> f, int linkType, out string kind, out string key, out ulong seq)
    {
        kind = key = ""; seq = 0;
        if (linkType != 1 || f.Length < 14) return false;
        int l3 = 14;
        ushort et = BinaryPrimitives.ReadUInt16BigEndian(f[12..]);
        if (et is 0x8100 or 0x88a8)
        {
            if (f.Length < 18) return false;
            et = BinaryPrimitives.ReadUInt16BigEndian(f[16..]); l3 = 18;
        }
        if (et != 0x0800 || f.Length < l3 + 20) return false;
        var ip = f[l3..];
        if ((ip[0] >> 4) != 4) return false;
        int ihl = (ip[0] & 0xF) * 4;
        if (ihl < 20 || ip.Length < ihl + 8 || ip[9] != 17) return false;
        if ((BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x1FFF) != 0) return false;
        var udp = ip[ihl..];
        ushort dport = BinaryPrimitives.ReadUInt16BigEndian(udp[2..]);
        var p = udp[8..];
        if (p.Length >= 16 && BinaryPrimitives.ReadUInt32BigEndian(p) == LabMagic)
        {
            kind = "lab"; key = BinaryPrimitives.ReadUInt32BigEndian(p[4..]).ToString(CultureInfo.InvariantCulture);
            seq = BinaryPrimitives.ReadUInt64BigEndian(p[8..]);
            return true;
        }
        if (p.Length >= 8 && p[0] == 0x53 && p[1] == 0x04)
        {
            int ipw = p[2], haw = p[3];
            if (ipw + haw != 8 || haw == 0 || ipw == 0) return false;
            int n = BinaryPrimitives.ReadUInt16BigEndian(p[6..]);
            bool haveHeap = false; ulong heap = 0, payOff = 0;
            int idBits = ipw * 8 - 1, addrBits = haw * 8;
            for (int i = 0; i < n && 8 + i * 8 + 8 <= p.Length; i++)
            {
                ulong ptr = BinaryPrimitives.ReadUInt64BigEndian(p[(8 + i * 8)..]);
                bool imm = (ptr >> 63) != 0;
                ulong id = (ptr >> addrBits) & ((1UL << idBits) - 1);
                ulong val = addrBits == 64 ? ptr : ptr & ((1UL << addrBits) - 1);
                if (imm && id == 1) { heap = val; haveHeap = true; }
                else if (imm && id == 3) payOff = val;
            }
            if (!haveHeap || payOff != 0) return false;
            kind = "spead";
            key = $"{dport}/{ip[12]}.{ip[13]}.{ip[14]}.{ip[15]}";
            seq = heap;
            return true;
        }
        return false;
    }
}

/// <summary>`recorder verify FILE...`: reads each capture to the end and reports counts, times, gaps and sequence accounting.</summary>
public static class VerifyCommand
{
    private const int MaxStreams = 4096;

    private sealed class FileReport
    {
        public required string Path;
        public required CaptureReadResult R;
        public Dictionary<(string, string), SequenceTracker> Streams = new();
        public long Untracked;
    }

    public static int Run(IReadOnlyList<string> files, bool json, TextWriter stdout, TextWriter stderr)
    {
        if (files.Count == 0) { stderr.WriteLine("usage: recorder verify [--json] FILE..."); return 2; }
        foreach (var f in files)
            if (!File.Exists(f)) { stderr.WriteLine($"recorder verify: {f}: no such file"); return 2; }

        var reports = new List<FileReport>();
        var total = new Dictionary<(string, string), SequenceTracker>();
        long totalUntracked = 0;
        foreach (var path in files)
        {
            var streams = new Dictionary<(string, string), SequenceTracker>();
            long untracked = 0;
            var r = CaptureReader.Read(path, (in CapturedFrame fr) =>
            {
                if (!FrameDecoder.TryCounter(fr.Data, fr.LinkType, out var kind, out var key, out var seq)) return;
                if (!Track(streams, (kind, key), seq)) untracked++;
                if (!Track(total, (kind, key), seq)) totalUntracked++;
            });
            reports.Add(new FileReport { Path = path, R = r, Streams = streams, Untracked = untracked });
        }
        bool allOk = reports.All(x => x.R.Ok);
        if (json) WriteJson(stdout, reports, total, allOk);
        else WriteText(stdout, reports, total, allOk);
        foreach (var x in reports.Where(x => !x.R.Ok))
            stderr.WriteLine($"recorder verify: {x.Path}: {(x.R.Truncated ? "TRUNCATED" : "CORRUPT")}: {string.Join("; ", x.R.Errors)}");
        return allOk ? 0 : 1;
    }

    private static bool Track(Dictionary<(string, string), SequenceTracker> d, (string, string) k, ulong seq)
    {
        if (!d.TryGetValue(k, out var t))
        {
            if (d.Count >= MaxStreams) return false;
            d[k] = t = new SequenceTracker();
        }
        t.Add(seq);
        return true;
    }

    private static string Ts(long ns) => ns == long.MinValue ? "-" : WallClock.Iso(ns);
    private static string Status(CaptureReadResult r) => r.Ok ? "ok" : r.Truncated ? "TRUNCATED" : "CORRUPT";

    private static void WriteText(TextWriter o, List<FileReport> reps, Dictionary<(string, string), SequenceTracker> total, bool allOk)
    {
        foreach (var x in reps)
        {
            var r = x.R;
            o.WriteLine($"{x.Path}: {Status(r)} format={r.Format} frames={r.Frames} bytes={r.Bytes} first={Ts(r.FirstNs)} last={Ts(r.LastNs)} max_gap={r.MaxGapNs / 1e9:F9}s"
                        + (r.IsbIfRecv.HasValue ? $" isb_ifrecv={r.IsbIfRecv} isb_ifdrop={r.IsbIfDrop}" : ""));
            if (!r.Ok) o.WriteLine($"  error at offset {r.ErrorOffset}: {string.Join("; ", r.Errors)} ({r.Frames} complete frames before it)");
            foreach (var ((kind, key), t) in x.Streams.OrderBy(k => k.Key))
                o.WriteLine($"  {kind} stream {key}: frames={t.Frames} missing={t.Missing} duplicates={t.Duplicates} reordered={t.Reordered}");
        }
        long frames = reps.Sum(x => x.R.Frames), bytes = reps.Sum(x => x.R.Bytes);
        var firsts = reps.Where(x => x.R.FirstNs != long.MinValue).ToList();
        o.WriteLine($"total: files={reps.Count} {(allOk ? "ok" : $"bad={reps.Count(x => !x.R.Ok)}")} frames={frames} bytes={bytes}"
                    + (firsts.Count > 0 ? $" first={Ts(firsts.Min(x => x.R.FirstNs))} last={Ts(firsts.Max(x => x.R.LastNs))}" : "")
                    + $" max_gap={reps.Select(x => x.R.MaxGapNs).DefaultIfEmpty().Max() / 1e9:F9}s"
                    + $" streams={total.Count} missing={total.Values.Sum(t => t.Missing)} duplicates={total.Values.Sum(t => t.Duplicates)} reordered={total.Values.Sum(t => t.Reordered)}");
    }

    private static void WriteJson(TextWriter o, List<FileReport> reps, Dictionary<(string, string), SequenceTracker> total, bool allOk)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = false }))
        {
            w.WriteStartObject();
            w.WriteBoolean("ok", allOk);
            w.WriteStartArray("files");
            foreach (var x in reps)
            {
                var r = x.R;
                w.WriteStartObject();
                w.WriteString("path", x.Path);
                w.WriteString("status", Status(r).ToLowerInvariant());
                w.WriteString("format", r.Format);
                w.WriteNumber("frames", r.Frames);
                w.WriteNumber("bytes", r.Bytes);
                if (r.FirstNs != long.MinValue) { w.WriteString("first", Ts(r.FirstNs)); w.WriteString("last", Ts(r.LastNs)); }
                w.WriteNumber("max_gap_seconds", r.MaxGapNs / 1e9);
                if (r.IsbIfRecv.HasValue) w.WriteNumber("isb_ifrecv", r.IsbIfRecv.Value);
                if (r.IsbIfDrop.HasValue) w.WriteNumber("isb_ifdrop", r.IsbIfDrop.Value);
                if (!r.Ok) { w.WriteString("error", string.Join("; ", r.Errors)); w.WriteNumber("error_offset", r.ErrorOffset); }
                WriteStreams(w, x.Streams);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("total");
            w.WriteNumber("files", reps.Count);
            w.WriteNumber("bad_files", reps.Count(x => !x.R.Ok));
            w.WriteNumber("frames", reps.Sum(x => x.R.Frames));
            w.WriteNumber("bytes", reps.Sum(x => x.R.Bytes));
            var firsts = reps.Where(x => x.R.FirstNs != long.MinValue).ToList();
            if (firsts.Count > 0) { w.WriteString("first", Ts(firsts.Min(x => x.R.FirstNs))); w.WriteString("last", Ts(firsts.Max(x => x.R.LastNs))); }
            w.WriteNumber("max_gap_seconds", reps.Select(x => x.R.MaxGapNs).DefaultIfEmpty().Max() / 1e9);
            w.WriteNumber("missing", total.Values.Sum(t => t.Missing));
            w.WriteNumber("duplicates", total.Values.Sum(t => t.Duplicates));
            w.WriteNumber("reordered", total.Values.Sum(t => t.Reordered));
            WriteStreams(w, total);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        o.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
    }

    private static void WriteStreams(Utf8JsonWriter w, Dictionary<(string, string), SequenceTracker> d)
    {
        w.WriteStartArray("streams");
        foreach (var ((kind, key), t) in d.OrderBy(k => k.Key))
        {
            w.WriteStartObject();
            w.WriteString("kind", kind); w.WriteString("key", key);
            w.WriteNumber("frames", t.Frames); w.WriteNumber("missing", t.Missing);
            w.WriteNumber("duplicates", t.Duplicates); w.WriteNumber("reordered", t.Reordered);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
