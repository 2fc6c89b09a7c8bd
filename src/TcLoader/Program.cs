using System.CommandLine;
using Spectre.Console;
using Tap.Interop;
using Tap.TcLoader.Commands;
using Tap.TcLoader.Plan;
using Tap.TcLoader.State;

namespace Tap.TcLoader;

/// <summary>tcloader: one table of verbs; every error is one line on stderr and an exit code from <see cref="ExitCodes"/>.</summary>
public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = BuildCommands(stdout, stderr);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
        {
            // One line: System.CommandLine lists allowed values on lines of their own.
            var msg = string.Join(" ", parse.Errors[0].Message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
            stderr.WriteLine($"tcloader: {msg} (see tcloader --help)");
            return ExitCodes.Usage;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) { return Report(e, stderr); }
    }

    private static int Report(Exception e, TextWriter stderr)
    {
        switch (e)
        {
            case AggregateException { InnerException: { } inner }:
                return Report(inner, stderr);
            case TapUsageException u:
                stderr.WriteLine(u.Message.StartsWith("tcloader", StringComparison.Ordinal) ? u.Message : $"tcloader: {u.Message}");
                return u.ExitCode;
            case BpfException b:
                var (code, msg) = Privileges.Classify(b);
                stderr.WriteLine($"tcloader: {msg}");
                return code;
            case FileNotFoundException f:
                stderr.WriteLine($"tcloader: {f.Message}; run make");
                return ExitCodes.Failure;
            case UnauthorizedAccessException a:
                stderr.WriteLine($"tcloader: {a.Message}; run as root");
                return ExitCodes.NotRoot;
            case IOException io:
                stderr.WriteLine($"tcloader: {io.Message}");
                return ExitCodes.Failure;
            default:
                throw e;
        }
    }

    private static RootCommand BuildCommands(TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("tcloader: attach the packet tap (forward IN to OUT, clone to a recorder) and watch it");
        var json = new Option<bool>("--json") { Description = "one JSON object for scripts" };

        var pairs = new Option<string>("--pairs") { Description = "IN:OUT[,IN:OUT...]: frames arriving on IN leave on OUT", Required = true };
        var recorder = new Option<string?>("--recorder") { Description = "interface that receives the clones" };
        var mode = new Option<string>("--mode") { Description = "tc | xdp: the hook that carries the tap", DefaultValueFactory = _ => "tc" };
        mode.AcceptOnlyFromAmong("tc", "xdp");
        var bidir = new Option<bool>("--bidirectional") { Description = "also forward OUT to IN (ARP, IGMP joins from the consumers)" };
        var recRev = new Option<bool>("--record-reverse") { Description = "with --bidirectional: clone the reverse direction too" };
        var start = new Option<string?>("--start-mode") { Description = "pass | forward | tap (default: tap with a recorder, else forward)" };
        start.AcceptOnlyFromAmong("pass", "forward", "tap");
        var tcHook = new Option<string>("--tc-hook") { Description = "auto | tcx | clsact: TCX links (kernel 6.6+) or clsact + cls_bpf", DefaultValueFactory = _ => "auto" };
        tcHook.AcceptOnlyFromAmong("auto", "tcx", "clsact");
        var attach = new Command("attach", "load and attach; replaces an earlier attach atomically") { pairs, recorder, mode, bidir, recRev, start, tcHook };
        attach.SetAction(p =>
        {
            var path = p.GetValue(mode) == "xdp" ? DataPath.Xdp : DataPath.Tc;
            TapMode? sm = p.GetValue(start) switch { "pass" => TapMode.Pass, "forward" => TapMode.Forward, "tap" => TapMode.Tap, _ => null };
            // Root before anything that looks at devices: the first line a user sees names the real problem.
            Privileges.RequireRoot("attach");
            var plan = PairSpec.Build(p.GetValue(pairs)!, p.GetValue(recorder), p.GetValue(bidir), p.GetValue(recRev), path, sm,
                p.GetValue(tcHook)!, NetDev.Index);
            return AttachCommand.Run(plan, new TapPaths(), stdout, stderr);
        });
        root.Subcommands.Add(attach);

        var detach = new Command("detach", "remove every program, link, filter and pin tcloader made");
        detach.SetAction(_ => DetachCommand.Run(new TapPaths(), stdout, stderr));
        root.Subcommands.Add(detach);

        var status = new Command("status", "what is attached where, in which mode") { json };
        status.SetAction(p => StatusCommand.Run(new TapPaths(), p.GetValue(json), stdout));
        root.Subcommands.Add(status);

        var watch = new Option<double>("--watch") { Description = "refresh every SECONDS: a live table with packets/s and bits/s" };
        var count = new Option<int>("--count") { Description = "with --watch: stop after N refreshes (0: until Ctrl+C)" };
        var prom = new Option<bool>("--prometheus") { Description = "Prometheus text exposition instead of the table" };
        var metricsFile = new Option<string?>("--metrics-file") { Description = "write Prometheus text to FILE (atomically; every interval with --watch)" };
        var stats = new Command("stats", "per-direction counters") { json, watch, count, prom, metricsFile };
        stats.SetAction((p, ct) =>
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
            if (Console.IsOutputRedirected) console.Profile.Width = 160; // scripts and logs: no wrapping at 80
            return Task.FromResult(StatsCommand.Run(new TapPaths(), p.GetValue(json), p.GetValue(prom), p.GetValue(metricsFile),
                p.GetValue(watch), p.GetValue(count), stdout, console, ct));
        });
        root.Subcommands.Add(stats);

        var modeArg = new Argument<string>("MODE") { Description = "pass | forward | tap" };
        var modeCmd = new Command("mode", "switch at run time, without detaching: pass to the stack / forward only / forward + clone") { modeArg };
        modeCmd.SetAction(p => ModeCommand.Run(p.GetValue(modeArg)!, new TapPaths(), stdout));
        root.Subcommands.Add(modeCmd);
        return root;
    }
}
