using Tap.Interop;

namespace Tap.TcLoader.Plan;

/// <summary>Parses and validates `--pairs IN:OUT[,IN:OUT...]` with the other attach options.</summary>
public static class PairSpec
{
    /// <param name="resolve">Name to ifindex; a usage error for an unknown interface. Injected so unit tests need no devices.</param>
    public static AttachPlan Build(string pairs, string? recorder, bool bidirectional, bool recordReverse,
        DataPath path, TapMode? startMode, string tcHook, Func<string, int> resolve)
    {
        var parsed = Parse(pairs);
        var ports = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (i, o) in parsed)
        {
            if (i == o) throw new TapUsageException($"pair {i}:{o}: IN and OUT are the same interface");
            // Each port belongs to one pair only: this rejects duplicate ingresses and any chain or
            // loop (a:b,b:a or a:b,b:c) that would send a frame around through the tap twice.
            foreach (var p in new[] { i, o })
                if (!ports.Add(p))
                    throw new TapUsageException($"interface {p} appears in more than one pair (duplicate ingress or a loop in the pairs)");
        }
        if (recorder != null && ports.Contains(recorder))
            throw new TapUsageException($"recorder {recorder} is also a port of a pair");
        if (recordReverse && !bidirectional)
            throw new TapUsageException("--record-reverse needs --bidirectional");

        int recIndex = recorder != null ? resolve(recorder) : 0;
        var dirs = new List<Direction>();
        foreach (var (i, o) in parsed)
        {
            int ii = resolve(i), oi = resolve(o);
            dirs.Add(new Direction(i, ii, o, oi, recorder, recIndex, recorder != null, false, dirs.Count));
        }
        if (bidirectional)
            foreach (var (i, o) in parsed)
                dirs.Add(new Direction(o, resolve(o), i, resolve(i), recorder, recIndex,
                    recorder != null && recordReverse, true, dirs.Count));

        var mode = startMode ?? (recorder != null ? TapMode.Tap : TapMode.Forward);
        if (mode == TapMode.Tap && recorder == null)
            throw new TapUsageException("mode tap needs --recorder IFACE");
        return new AttachPlan(dirs, recorder, path, mode, tcHook);
    }

    public static List<(string In, string Out)> Parse(string pairs)
    {
        var list = new List<(string, string)>();
        foreach (var raw in pairs.Split(',', StringSplitOptions.TrimEntries))
        {
            var parts = raw.Split(':');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new TapUsageException($"bad pair '{raw}': expected IN:OUT");
            list.Add((parts[0], parts[1]));
        }
        if (list.Count == 0) throw new TapUsageException("--pairs is empty");
        if (list.Count > TapConst.MaxPairs)
            throw new TapUsageException($"{list.Count} pairs given; at most {TapConst.MaxPairs} are supported");
        return list;
    }
}
