using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tap.Recorder.Metrics;

/// <summary>
/// A minimal HTTP endpoint for Prometheus on a loopback address (the caller refuses any other):
/// every GET answers with the current snapshot. One request at a time, bounded reads, no keep-alive.
/// </summary>
public sealed class MetricsServer : IDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<string> _render;
    private readonly Thread _thread;
    private volatile bool _stopped;

    public IPEndPoint Endpoint => (IPEndPoint)_listener.LocalEndpoint;

    public MetricsServer(IPEndPoint ep, Func<string> render)
    {
        if (!IPAddress.IsLoopback(ep.Address)) throw new ArgumentException("metrics are served on loopback only", nameof(ep));
        _render = render;
        _listener = new TcpListener(ep);
        _listener.Start(8);
        _thread = new Thread(Loop) { IsBackground = true, Name = "metrics" };
        _thread.Start();
    }

    private void Loop()
    {
        var buf = new byte[4096];
        while (!_stopped)
        {
            Socket c;
            try { c = _listener.AcceptSocket(); }
            catch (SocketException) { return; }
            catch (ObjectDisposedException) { return; }
            using (c)
            {
                try
                {
                    c.ReceiveTimeout = 2000;
                    c.SendTimeout = 2000;
                    int n = 0;
                    // Read the request head (bounded); the path is not looked at.
                    while (n < buf.Length)
                    {
                        int r = c.Receive(buf, n, buf.Length - n, SocketFlags.None);
                        if (r <= 0) break;
                        n += r;
                        if (Encoding.ASCII.GetString(buf, 0, n).Contains("\r\n\r\n")) break;
                    }
                    bool get = n >= 4 && Encoding.ASCII.GetString(buf, 0, 4) == "GET ";
                    string body = get ? _render() : "only GET\n";
                    byte[] b = Encoding.UTF8.GetBytes(body);
                    string head = $"HTTP/1.1 {(get ? "200 OK" : "405 Method Not Allowed")}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {b.Length}\r\nConnection: close\r\n\r\n";
                    c.Send(Encoding.ASCII.GetBytes(head));
                    c.Send(b);
                }
                catch (SocketException) { }
            }
        }
    }

    public void Dispose()
    {
        _stopped = true;
        _listener.Stop();
        _thread.Join(3000);
    }
}

/// <summary>node_exporter textfile collector output: written to PATH.tmp and renamed over PATH, so a reader never sees half a file.</summary>
public static class MetricsTextfile
{
    public static void Write(string path, string text)
    {
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }
}
