using Tap.Interop;
using Tap.TcLoader.Plan;
using Xunit;

namespace Tap.Tests.TcLoader;

[Trait("Category", "Unit")]
public class PairSpecTests
{
    private static readonly Dictionary<string, int> Devs = new() { ["a"] = 2, ["b"] = 3, ["c"] = 4, ["d"] = 5, ["rec"] = 9 };
    private static int Resolve(string n) => Devs.TryGetValue(n, out var i) ? i : throw new TapUsageException($"unknown interface '{n}'");

    private static AttachPlan Build(string pairs, string? rec = "rec", bool bidir = false, bool recRev = false) =>
        PairSpec.Build(pairs, rec, bidir, recRev, DataPath.Tc, null, "auto", Resolve);

    [Fact]
    public void OnePairWithRecorderClonesAndStartsInTapMode()
    {
        var p = Build("a:b");
        var d = Assert.Single(p.Directions);
        Assert.Equal((2, 3, 9, true, false, 0), (d.IngressIndex, d.EgressIndex, d.RecorderIndex, d.Record, d.Reverse, d.Slot));
        Assert.Equal(TapMode.Tap, p.StartMode);
        Assert.Equal(TapConst.FlagRecord, d.ToAbi().Flags);
    }

    [Fact]
    public void WithoutRecorderStartsInForwardMode() => Assert.Equal(TapMode.Forward, Build("a:b", rec: null).StartMode);

    [Fact]
    public void BidirectionalAddsReverseDirectionsRecordedOnlyWhenAsked()
    {
        var p = Build("a:b,c:d", bidir: true);
        Assert.Equal(4, p.Directions.Count);
        var rev = p.Directions.Where(d => d.Reverse).ToList();
        Assert.Equal(new[] { (3, 2), (5, 4) }, rev.Select(d => (d.IngressIndex, d.EgressIndex)));
        Assert.All(rev, d => Assert.False(d.Record));
        Assert.Equal(new[] { 0, 1, 2, 3 }, p.Directions.Select(d => d.Slot));
        Assert.All(Build("a:b", bidir: true, recRev: true).Directions, d => Assert.True(d.Record));
    }

    [Theory]
    [InlineData("a:a", "same interface")]
    [InlineData("a:b,a:c", "more than one pair")]
    [InlineData("a:b,b:a", "more than one pair")]
    [InlineData("a:b,b:c", "more than one pair")]
    [InlineData("a:rec", "recorder rec is also a port")]
    [InlineData("a", "expected IN:OUT")]
    [InlineData("a:b:c", "expected IN:OUT")]
    [InlineData("a:zz", "unknown interface 'zz'")]
    public void BadPairsAreRefusedWithOneClearMessage(string pairs, string expected)
    {
        var e = Assert.Throws<TapUsageException>(() => Build(pairs));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
    }

    [Fact]
    public void MoreThanEightPairsAreRefused()
    {
        var many = string.Join(",", Enumerable.Range(0, 9).Select(i => $"x{i}:y{i}"));
        Assert.Contains("at most 8", Assert.Throws<TapUsageException>(() => PairSpec.Parse(many)).Message);
    }

    [Fact]
    public void TapModeWithoutRecorderIsRefused() =>
        Assert.Throws<TapUsageException>(() => PairSpec.Build("a:b", null, false, false, DataPath.Tc, TapMode.Tap, "auto", Resolve));
}
