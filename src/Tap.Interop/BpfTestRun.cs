namespace Tap.Interop;

/// <summary>BPF_PROG_TEST_RUN: runs a loaded program on a crafted frame, in the kernel, without a device.</summary>
public static unsafe class BpfTestRun
{
    public readonly record struct Result(uint Retval, byte[] DataOut, uint DurationNs);

    /// <param name="ctx">Optional context (struct __sk_buff or struct xdp_md) to pass in, e.g. the ingress ifindex.</param>
    public static Result Run(int progFd, ReadOnlySpan<byte> frame, ReadOnlySpan<byte> ctx = default, int repeat = 1, uint flags = 0)
    {
        byte[] outBuf = new byte[Math.Max(frame.Length + 256, 128)];
        byte[] ctxOut = new byte[Math.Max(ctx.Length, 1)];
        fixed (byte* inP = frame)
        fixed (byte* outP = outBuf)
        fixed (byte* ctxP = ctx)
        fixed (byte* ctxOutP = ctxOut)
        {
            var o = BpfTestRunOpts.Create();
            o.DataIn = inP;
            o.DataSizeIn = (uint)frame.Length;
            o.DataOut = outP;
            o.DataSizeOut = (uint)outBuf.Length;
            if (!ctx.IsEmpty)
            {
                o.CtxIn = ctxP;
                o.CtxSizeIn = (uint)ctx.Length;
                o.CtxOut = ctxOutP;
                o.CtxSizeOut = (uint)ctxOut.Length;
            }
            o.Repeat = repeat;
            o.Flags = flags;
            BpfException.Check(Libbpf.bpf_prog_test_run_opts(progFd, ref o), "bpf_prog_test_run_opts");
            return new Result(o.Retval, outBuf.AsSpan(0, (int)Math.Min(o.DataSizeOut, (uint)outBuf.Length)).ToArray(), o.Duration);
        }
    }
}
