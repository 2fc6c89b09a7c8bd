using System.Text.Json;
using System.Text.Json.Serialization;
using Tap.TcLoader.Plan;

namespace Tap.TcLoader.State;

/// <summary>One program attachment tcloader made, enough to undo it without the process that made it.</summary>
public sealed record HookRecord
{
    public required string Ifname { get; init; }
    public required int Ifindex { get; init; }
    /// <summary>tcx | clsact | xdp-native | xdp-generic | xdp-peer</summary>
    public required string Kind { get; init; }
    /// <summary>The pinned link, for tcx and xdp links; null for clsact filters.</summary>
    public string? LinkPin { get; init; }
    public bool QdiscCreated { get; init; }
    public uint Handle { get; init; }
    public uint Priority { get; init; }
    public string? Program { get; init; }
    /// <summary>Network namespace the interface is in, when not ours (veth peers for XDP).</summary>
    public string? Netns { get; init; }
}

/// <summary>
/// The state file: what is attached, written before each hook is made and after it is pinned, so that
/// after a kill -9 in the middle of attach, `detach` still finds everything (see docs/OPERATIONS.md).
/// </summary>
public sealed record TapState
{
    public int Version { get; init; } = 1;
    public string Path { get; init; } = "tc";
    public string? Recorder { get; init; }
    public List<Direction> Directions { get; init; } = [];
    public List<HookRecord> Hooks { get; init; } = [];
    public DateTime AttachedAt { get; init; }
    public bool Complete { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static TapState? Load(TapPaths paths)
    {
        if (!File.Exists(paths.StateFile)) return null;
        try { return JsonSerializer.Deserialize<TapState>(File.ReadAllText(paths.StateFile), Json); }
        catch (JsonException) { return null; } // an unreadable state is treated as none; detach also scans the pins
    }

    /// <summary>Atomic replace: write a temp file, fsync, rename.</summary>
    public void Save(TapPaths paths)
    {
        Directory.CreateDirectory(paths.StateDir);
        var tmp = paths.StateFile + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(fs, this, Json);
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, paths.StateFile, overwrite: true);
    }

    public static void Delete(TapPaths paths)
    {
        if (File.Exists(paths.StateFile)) File.Delete(paths.StateFile);
        if (Directory.Exists(paths.StateDir) && !Directory.EnumerateFileSystemEntries(paths.StateDir).Any())
            Directory.Delete(paths.StateDir);
    }
}
