// Figures of the C# client for tools/bench_clients.py (one JSON line on stdout):
//   ping_us        rpc.ping round trips, in microseconds (after a warm-up)
//   first_ms       npc.say to its first NpcDelta, per reply
//   pieces, cpu_s  deltas received and this process's CPU seconds over those replies
//   update_us      main-thread time of NpcAiBridge.Update per event, draining a reply that
//                  arrived while no frame ran (built against the UnityEngine stub)
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Threading;
using NpcAi.Bridge;

static partial class BridgeSmoke
{
    static class BenchRun
    {
        public static void Run(BridgeOptions o, int pings, int replies)
        {
            var client = BridgeClient.Connect(o);
            for (int i = 0; i < 200; i++) { Get(client.Ping((long)i)); }
            var ping = new List<double>();
            var sw = new Stopwatch();
            for (int i = 0; i < pings; i++)
            {
                sw.Restart();
                Get(client.Ping((long)i));
                ping.Add(sw.Elapsed.TotalMilliseconds * 1000);
            }

            Get(client.LoadNpcFile("blacksmith.toml", "cs-smith"));
            var gate = new object();
            long current = -1, pieces = 0;
            bool gotFirst = false, ended = false;
            client.NpcDeltaReceived += d =>
            {
                lock (gate)
                {
                    if (d.Stream != current) { return; }
                    pieces++;
                    gotFirst = true;
                    Monitor.PulseAll(gate);
                }
            };
            client.NpcDoneReceived += d =>
            {
                lock (gate) { if (d.Stream == current) { ended = true; Monitor.PulseAll(gate); } }
            };
            var first = new List<double>();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            for (int r = 0; r < replies; r++)
            {
                lock (gate)
                {
                    gotFirst = ended = false;
                    sw.Restart();
                    current = client.Say("cs-smith", "Talk.");
                    while (!gotFirst) { Monitor.Wait(gate); }
                    first.Add(sw.Elapsed.TotalMilliseconds);
                    while (!ended) { Monitor.Wait(gate); }
                }
            }
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            client.Dispose();

            Console.WriteLine("{\"ping_us\": [" + Join(ping) + "], \"first_ms\": [" + Join(first)
                              + "], \"pieces\": " + pieces + ", \"cpu_s\": "
                              + cpu.ToString("R", CultureInfo.InvariantCulture)
                              + ", \"update_us\": [" + Join(UpdateCost(o)) + "]}");
        }

        /// <summary>Update() time per event, for three replies that each arrived whole while
        /// no frame ran.</summary>
        static List<double> UpdateCost(BridgeOptions o)
        {
            var bridge = new NpcAiBridge { port = o.Port, token = o.Token,
                                           maxEventsPerFrame = 1 << 20 };
            var update = typeof(NpcAiBridge).GetMethod(
                "Update", BindingFlags.NonPublic | BindingFlags.Instance);
            var flags = BindingFlags.NonPublic | BindingFlags.Instance;
            typeof(NpcAiBridge).GetMethod("Start", flags).Invoke(bridge, null);
            bool loaded = false;
            int events = 0;
            long done = 0;
            bridge.Connected += info => bridge.LoadNpcFile("blacksmith.toml", "cs-ui",
                                                           id => loaded = true);
            bridge.NpcDeltaReceived += d => events++;
            bridge.NpcDoneReceived += d => { events++; done++; };
            var until = DateTime.UtcNow.AddSeconds(30);
            while (!loaded && DateTime.UtcNow < until)
            {
                update.Invoke(bridge, null);
                Thread.Sleep(2);
            }
            var costs = new List<double>();
            var sw = new Stopwatch();
            for (int r = 0; r < 3; r++)
            {
                events = 0;
                bridge.Say("cs-ui", "Talk.");
                Thread.Sleep(3000); // the whole reply arrives while the "game" is busy
                sw.Restart();
                update.Invoke(bridge, null);
                var elapsed = sw.Elapsed.TotalMilliseconds * 1000;
                if (done == r + 1 && events > 0) { costs.Add(elapsed / events); }
            }
            typeof(NpcAiBridge).GetMethod("OnDestroy", flags).Invoke(bridge, null);
            return costs;
        }

        static string Join(IEnumerable<double> values)
        {
            return string.Join(", ", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        }
    }
}
