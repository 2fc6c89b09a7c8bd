namespace Tap.Recorder.Cli;

/// <summary>
/// The recorder's large allocations are fixed at start and shared out over the channels, so peak RSS
/// stays under 512 MiB whatever --queues is and however long the capture runs:
/// 192 MiB of AF_PACKET ring + 128 MiB of writer blocks + the runtime (~60 MiB).
/// </summary>
public static class MemoryBudget
{
    public const long RingBytes = 192L << 20;
    public const int WriterBlocksTotal = 32;   // x 4 MiB blocks
    private const int MinRingBlocks = 4, MinWriterBlocks = 4;

    public static int RingBlocks(int channels, int blockSize) =>
        Math.Max(MinRingBlocks, (int)(RingBytes / blockSize / Math.Max(1, channels)));

    public static int WriterBlocks(int channels) => Math.Max(MinWriterBlocks, WriterBlocksTotal / Math.Max(1, channels));
}
