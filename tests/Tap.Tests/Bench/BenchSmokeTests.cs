using System.Text.Json;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.Bench;

/// <summary>
/// Runs the benchmark harness on a tiny count in a lab of its own (prefix bs) and checks that the JSON
/// has every row: each path at each frame size, measured or marked "not run: reason". No timing is asserted.
/// </summary>
[Trait("Category", "Root")]
public sealed class BenchSmokeTests
{
    private static readonly string[] Paths =
    [
        "tc_clone", "xdp_clone", "xdp_redirect", "tc_mirred", "nft_dup_fwd",
        "recorder_afpacket", "recorder_afxdp", "recorder_afpacket_lz4", "tcpdump", "netsniff_ng",
    ];

    [RootFact]
    public void Harness_Writes_Every_Row()
    {
        var outDir = Path.Combine(Path.GetTempPath(), $"bench-smoke-{Guid.NewGuid():N}");
        // iproute2 makes these when the harness loads an object with `ip link set ... xdp obj`.
        var ipPins = new[] { "/sys/fs/bpf/tc", "/sys/fs/bpf/ip", "/sys/fs/bpf/xdp" }.Where(d => !Path.Exists(d) && !File.Exists(d)).ToList();
        try
        {
            var r = Run.Cmd(TestEnv.Tool("tools/bench/bench.sh"), $"--smoke --prefix bs --out {outDir}", 300_000);
            Assert.True(r.ExitCode == 0, r.ToString());
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
            var root = doc.RootElement;
            Assert.Equal("smoke", root.GetProperty("mode").GetString());
            foreach (var k in new[] { "uname", "nproc", "cpu", "date" })
                Assert.True(root.GetProperty("machine").TryGetProperty(k, out _), k);
            Assert.True(root.GetProperty("disk_odirect").TryGetProperty("bytes_per_s", out _), root.GetProperty("disk_odirect").ToString());
            var rows = root.GetProperty("rows").EnumerateArray().ToList();
            foreach (var size in new[] { 64, 1500, 9000 })
            {
                Assert.True(root.GetProperty("generator_unpaced_pps").TryGetProperty(size.ToString(), out _));
                foreach (var path in Paths)
                {
                    var row = rows.SingleOrDefault(x => x.GetProperty("path").GetString() == path && x.GetProperty("size").GetInt32() == size);
                    Assert.True(row.ValueKind == JsonValueKind.Object, $"no row {path} {size}");
                    bool measured = row.TryGetProperty("zero_loss_pps", out var z) && z.ValueKind == JsonValueKind.Number;
                    bool explained = row.TryGetProperty("note", out var n) && (n.GetString() ?? "").StartsWith("not ", StringComparison.Ordinal);
                    Assert.True(measured || explained, $"{path} {size}: {row}");
                    Assert.True(row.TryGetProperty("ratio_peer", out _), $"{path} {size}: no peer");
                }
            }
            Assert.True(File.Exists(Path.Combine(outDir, "results.png")));
            // The harness removed its lab.
            Assert.NotEqual(0, Run.Cmd("ip", "link show dev bsin0").ExitCode);
            foreach (var d in ipPins)
                Assert.False(Directory.Exists(d) || new FileInfo(d).LinkTarget != null, $"{d} left on bpffs");
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
        }
    }
}
