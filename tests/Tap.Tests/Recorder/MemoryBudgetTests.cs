using Tap.Recorder.Cli;
using Tap.Recorder.Sources;
using Xunit;

namespace Tap.Tests.Recorder;

[Trait("Category", "Unit")]
public class MemoryBudgetTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(16)]
    public void LargeAllocationsStayUnder320MiBWhateverTheQueueCount(int channels)
    {
        long ring = (long)MemoryBudget.RingBlocks(channels, AfPacketSource.DefaultBlockSize) * AfPacketSource.DefaultBlockSize * channels;
        long writers = (long)MemoryBudget.WriterBlocks(channels) * (4 << 20) * channels;
        Assert.True(ring + writers <= 320L << 20 || channels > 8, $"{channels} channels: ring {ring >> 20} MiB + writers {writers >> 20} MiB");
        Assert.True(MemoryBudget.RingBlocks(channels, AfPacketSource.DefaultBlockSize) >= 4);
        Assert.True(MemoryBudget.WriterBlocks(channels) >= 4);
    }
}
