using Tap.Recorder.Capture;
using Tap.Recorder.Verify;
using Tap.Tests.Infra;
using Xunit;
using static Tap.Tests.Recorder.Writers.Kit;

namespace Tap.Tests.Recorder.Writers;

/// <summary>ENOSPC on a real O_DIRECT-capable filesystem: an 8 MiB ext4 image, loop-mounted (root).</summary>
[Trait("Category", "Unit")]
public sealed class DiskFullTests
{
    [RootTheory]
    [InlineData(CaptureFormat.Pcapng, false)]
    [InlineData(CaptureFormat.Pcap, false)]
    [InlineData(CaptureFormat.Pcapng, true)]
    public void DiskFull_ClosesValidCapture_CountsDrops_CompletesPromptly(CaptureFormat fmt, bool lz4)
    {
        var root = TempDir("/var/tmp");
        string img = Path.Combine(root, "fs.img"), mnt = Path.Combine(root, "mnt");
        Directory.CreateDirectory(mnt);
        bool mounted = false;
        try
        {
            using (var fs = File.Create(img)) fs.SetLength(8 << 20);
            var mk = Tool("mkfs.ext4", $"-q -F -m 0 \"{img}\"");
            Assert.True(mk.ExitCode == 0, mk.ToString());
            var mr = Run.Cmd("/bin/mount", $"-o loop \"{img}\" \"{mnt}\"");
            Assert.True(mr.ExitCode == 0, mr.ToString());
            mounted = true;

            var notices = new List<string>();
            WriterStats st;
            var w = new CaptureWriter(Opts(mnt, fmt, lz4, buf: 1 << 20, blocks: 4), notices.Add);
            int i = 0;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            for (; i < 20000 && !w.Stats.DiskFull && sw.Elapsed < TimeSpan.FromSeconds(60); i++)
            {
                var f = LabFrame(1, (ulong)i, 1400);
                Paced(w);
                w.Write(f, f.Length, T0 + i * 1000L);
            }
            Assert.True(w.Stats.DiskFull, "the 8 MiB filesystem never filled");
            for (int k = 0; k < 500; k++) { var f = LabFrame(1, (ulong)(i + k), 1400); w.Write(f, f.Length, T0 + (i + k) * 1000L); }
            var t = System.Diagnostics.Stopwatch.StartNew();
            w.Complete();
            Assert.True(t.Elapsed < TimeSpan.FromSeconds(10), $"Complete took {t.Elapsed}");
            st = w.Stats;
            Assert.True(st.DiskFullDrops >= 500, st.ToString());
            Assert.Equal(i + 500, st.Frames + st.DiskFullDrops + st.QueueDrops);
            Assert.Single(notices, n => n.Contains("disk full"));
            var files = Outputs(mnt).Where(f => !f.EndsWith("lost+found")).ToArray();
            Assert.DoesNotContain(files, f => f.EndsWith(".part"));
            Assert.NotEmpty(files);
            long total = 0;
            foreach (var f in files)
            {
                var r = CaptureReader.Read(f);
                Assert.True(r.Ok, f + ": " + string.Join("; ", r.Errors));
                string plain = f;
                if (lz4) { plain = Path.Combine(root, "dec"); var d = Tool("lz4", $"-d -f -q \"{f}\" \"{plain}\""); Assert.True(d.ExitCode == 0, d.ToString()); }
                total += TcpdumpCount(plain);
                if (fmt == CaptureFormat.Pcapng)
                {
                    Assert.True(r.IsbIfRecv.HasValue, "no ISB after disk full (there was room after the cut)");
                    Assert.Equal(r.Frames, r.IsbIfRecv - r.IsbIfDrop); // ifrecv - ifdrop = frames in the file
                }
            }
            Assert.Equal(st.Frames, total);
        }
        finally
        {
            if (mounted) Run.Cmd("/bin/umount", $"\"{mnt}\"");
            Cleanup(root);
        }
    }
}
