using Tap.Interop;

namespace Tap.TcLoader.Plan;

/// <summary>Which hook family carries the tap: TC ingress (tc_clone) or XDP (xdp_clone).</summary>
public enum DataPath { Tc, Xdp }

/// <summary>One forwarding direction: frames arriving on Ingress leave on Egress, optionally cloned to Recorder.</summary>
public sealed record Direction(
    string Ingress, int IngressIndex,
    string Egress, int EgressIndex,
    string? Recorder, int RecorderIndex,
    bool Record, bool Reverse, int Slot)
{
    public TapDir ToAbi() => new()
    {
        EgressIfindex = (uint)EgressIndex,
        RecorderIfindex = (uint)RecorderIndex,
        Flags = (Record ? TapConst.FlagRecord : 0) | (Reverse ? TapConst.FlagReverse : 0),
        Slot = (uint)Slot,
    };
}

/// <summary>Everything `attach` was asked to do, validated.</summary>
public sealed record AttachPlan(IReadOnlyList<Direction> Directions, string? Recorder, DataPath Path, TapMode StartMode, string TcHook);
