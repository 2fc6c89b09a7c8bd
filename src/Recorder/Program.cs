using Tap.Recorder.Cli;

namespace Tap.Recorder;

public static class Program
{
    public static int Main(string[] args) => RecorderCli.Run(args, Console.Out, Console.Error);
}
