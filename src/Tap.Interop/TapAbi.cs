using System.Runtime.InteropServices;

namespace Tap.Interop;

// The C# mirror of bpf/tap.h, and the only one. TapAbiTests compares every size and
// offset here with the BTF of the compiled objects, so a change on one side fails the build's tests.

public static class TapConst
{
    public const int MaxPairs = 8;
    public const int MaxDirections = 2 * MaxPairs;
    public const int SlotUnpaired = MaxDirections;
    public const int StatsSlots = MaxDirections + 1;
    public const int CloneErrBuckets = 8;

    public const uint FlagRecord = 1u << 0;
    public const uint FlagReverse = 1u << 1;

    public const string MapDirs = "tap_dirs";
    public const string MapConfig = "tap_config";
    public const string MapStats = "tap_stats";
}

public enum TapMode : uint { Pass = 0, Forward = 1, Tap = 2 }

public enum TapCloneErr
{
    Other = 0, EInval = 1, ENoMem = 2, ENetDown = 3, ENoBufs = 4, EMsgSize = 5, XmitDrop = 6, XmitCn = 7,
}

[StructLayout(LayoutKind.Sequential)]
public struct TapDir
{
    public uint EgressIfindex;
    public uint RecorderIfindex;
    public uint Flags;
    public uint Slot;
}

[StructLayout(LayoutKind.Sequential)]
public struct TapConfig
{
    public uint Mode;
    public uint Generation;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct TapStats
{
    public ulong Packets;
    public ulong Bytes;
    public ulong Forwarded;
    public ulong ForwardErrors;
    public ulong Cloned;
    public ulong CloneErrors;
    public ulong Passed;
    public ulong NotRecorded;
    public fixed ulong CloneErr[TapConst.CloneErrBuckets];

    /// <summary>Adds another CPU's counters: the kernel keeps one copy per CPU, without atomics.</summary>
    public void Add(in TapStats o)
    {
        Packets += o.Packets; Bytes += o.Bytes; Forwarded += o.Forwarded; ForwardErrors += o.ForwardErrors;
        Cloned += o.Cloned; CloneErrors += o.CloneErrors; Passed += o.Passed; NotRecorded += o.NotRecorded;
        for (int i = 0; i < TapConst.CloneErrBuckets; i++) CloneErr[i] += o.CloneErr[i];
    }
}

/// <summary>struct tap_xsk_stats: per-CPU counters of xdp_xsk at the recorder endpoint.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TapXskStats
{
    public ulong Packets;
    public ulong Bytes;
    public ulong Redirected;
    public ulong NoSocket;

    public void Add(in TapXskStats o) { Packets += o.Packets; Bytes += o.Bytes; Redirected += o.Redirected; NoSocket += o.NoSocket; }
}
