using Tap.Recorder.Capture;

namespace Tap.Recorder.Sources;

/// <summary>
/// A kernel endpoint the recorder drains: one or more channels (AF_PACKET fanout members or
/// AF_XDP queue sockets), each drained by exactly one capture thread into its own
/// <see cref="CaptureWriter"/> (the writer takes one producer thread, so channels never share one).
/// </summary>
public interface ICaptureSource : IDisposable
{
    string Name { get; }
    int Channels { get; }

    /// <summary>Drains channel <paramref name="channel"/> into <paramref name="writer"/> until
    /// <paramref name="stop"/> is cancelled, then empties what the kernel already handed over, and returns.</summary>
    void Run(int channel, CaptureWriter writer, CancellationToken stop);

    /// <summary>Stops the kernel feeding the channels (AF_XDP: detaches the XDP program). Called before
    /// <c>stop</c> is cancelled, so the final drain sees every frame that got in.</summary>
    void StopIngress();

    /// <summary>Counters so far, safe to call from any thread.</summary>
    SourceStats Stats();
}

/// <summary>Source-side counters, cumulative since start. Keys in <see cref="Extra"/> go to the stats JSON and metrics as they are.</summary>
public sealed record SourceStats(long Received, long SocketDrops, IReadOnlyDictionary<string, long> Extra);

/// <summary>Counters written by one capture thread, read by any: each field has one writer.</summary>
internal sealed class ChannelCounters
{
    public long Received;
    public long SocketDrops;
    public long KernelPackets;
    // AF_XDP's XDP_STATISTICS (cumulative in the kernel, do not reset on read)
    public long RxDropped, RxInvalidDescs, RxRingFull, RxFillRingEmpty;
    public long Oversize;
}
