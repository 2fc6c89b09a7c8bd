using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Tap.Interop;
using Tap.Tests.Infra;
using Xunit;

namespace Tap.Tests.TcLoader;

/// <summary>The C# mirror of bpf/tap.h against the BTF that clang wrote into the objects.</summary>
[Trait("Category", "Unit")]
public class TapAbiTests
{
    /// <summary>STRUCT name -> (size, member -> bit offset), parsed from `bpftool btf dump file`.</summary>
    private static Dictionary<string, (int Size, Dictionary<string, int> Members)> Btf(string obj)
    {
        var r = Run.Cmd("bpftool", $"btf dump file {TestEnv.BpfObject(obj)}");
        Assert.True(r.ExitCode == 0, r.ToString());
        var result = new Dictionary<string, (int, Dictionary<string, int>)>();
        string? cur = null;
        foreach (var line in r.Stdout.Split('\n'))
        {
            var s = Regex.Match(line, @"^\[\d+\] STRUCT '(\w+)' size=(\d+)");
            if (s.Success) { cur = s.Groups[1].Value; result[cur] = (int.Parse(s.Groups[2].Value), new()); continue; }
            if (!line.StartsWith('\t')) { cur = null; continue; }
            var m = Regex.Match(line, @"^\t'(\w+)' type_id=\d+ bits_offset=(\d+)");
            if (cur != null && m.Success) result[cur].Item2[m.Groups[1].Value] = int.Parse(m.Groups[2].Value);
        }
        return result;
    }

    private static void Same<T>(Dictionary<string, (int Size, Dictionary<string, int> Members)> btf, string cName, params (string C, string Cs)[] fields)
    {
        Assert.True(btf.ContainsKey(cName), $"{cName} not in BTF");
        var (size, members) = btf[cName];
        Assert.Equal(size, Marshal.SizeOf<T>());
        Assert.Equal(members.Count, fields.Length);
        foreach (var (c, cs) in fields)
            Assert.True(members[c] == 8 * (int)Marshal.OffsetOf<T>(cs), $"{cName}.{c}: BTF bit offset {members[c]}, C# byte offset {Marshal.OffsetOf<T>(cs)}");
    }

    [Theory]
    [InlineData("tc_clone.o")]
    [InlineData("xdp_pass.o")]
    public void MirrorMatchesBtf(string obj)
    {
        var btf = Btf(obj);
        Same<TapDir>(btf, "tap_dir", ("egress_ifindex", "EgressIfindex"), ("recorder_ifindex", "RecorderIfindex"), ("flags", "Flags"), ("slot", "Slot"));
        Same<TapConfig>(btf, "tap_config", ("mode", "Mode"), ("generation", "Generation"));
        Same<TapStats>(btf, "tap_stats", ("packets", "Packets"), ("bytes", "Bytes"), ("forwarded", "Forwarded"),
            ("forward_errors", "ForwardErrors"), ("cloned", "Cloned"), ("clone_errors", "CloneErrors"), ("passed", "Passed"),
            ("not_recorded", "NotRecorded"), ("clone_err", "CloneErr"));
    }

    [Fact]
    public void ConstantsMatchHeader()
    {
        var h = File.ReadAllText(TestEnv.BpfObject("tap.h"));
        int Def(string n) => int.Parse(Regex.Match(h, $@"#define {n}\s+(\d+)").Groups[1].Value);
        Assert.Equal(Def("TAP_MAX_PAIRS"), TapConst.MaxPairs);
        Assert.Equal(Def("TAP_MAX_QUEUES") > 0, true);
        Assert.Equal((int)TapMode.Tap, int.Parse(Regex.Match(h, @"TAP_MODE_TAP\s*=\s*(\d+)").Groups[1].Value));
        Assert.Equal(TapConst.CloneErrBuckets, int.Parse(Regex.Match(h, @"TAP_CLONE_ERR_BUCKETS\s*=\s*(\d+)").Groups[1].Value));
        Assert.Equal((int)TapCloneErr.EMsgSize, int.Parse(Regex.Match(h, @"TAP_CLONE_ERR_EMSGSIZE\s*=\s*(\d+)").Groups[1].Value));
    }
}
