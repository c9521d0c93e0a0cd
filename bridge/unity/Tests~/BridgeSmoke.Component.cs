// The NpcAiBridge component against a live server, outside Unity: compiled with UnityStubs.cs,
// driven by a loop that calls its Start/Update/OnDestroy as Unity's player loop would. It
// checks that every event and callback arrives on the "main" thread (the one calling Update),
// in the server's order, and at most maxEventsPerFrame per frame.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Threading;
using NpcAi.Bridge;

static partial class BridgeSmoke
{
    static class ComponentRun
    {
        const BindingFlags Hidden = BindingFlags.NonPublic | BindingFlags.Instance;

        sealed class Player
        {
            public readonly NpcAiBridge Bridge = new NpcAiBridge();
            public readonly List<string> Log = new List<string>();
            public int OffThread;
            public int MostPerFrame;
            readonly int mainThread = Thread.CurrentThread.ManagedThreadId;
            int thisFrame;

            public void Note(string what)
            {
                if (Thread.CurrentThread.ManagedThreadId != mainThread) { OffThread++; }
                thisFrame++;
                Log.Add(what);
            }

            public void Call(string method)
            {
                typeof(NpcAiBridge).GetMethod(method, Hidden).Invoke(Bridge, null);
            }

            /// <summary>Frames until the condition holds (false after 10 s).</summary>
            public bool Until(Func<bool> done)
            {
                var end = DateTime.UtcNow.AddSeconds(10);
                while (!done())
                {
                    if (DateTime.UtcNow > end) { return false; }
                    thisFrame = 0;
                    Call("Update");
                    MostPerFrame = Math.Max(MostPerFrame, thisFrame);
                    Thread.Sleep(5);
                }
                return true;
            }

            public void Frames(int n)
            {
                int left = n;
                Until(() => left-- <= 0);
            }

            public bool Has(string prefix) { return Log.Any(l => l.StartsWith(prefix)); }
        }

        public static void Run(BridgeOptions o)
        {
            // A wrong token: ConnectFailed with 2007, on the main thread.
            var refused = new Player();
            refused.Bridge.port = o.Port;
            refused.Bridge.token = "wrong-token";
            refused.Bridge.ConnectFailed += e => refused.Note("failed " + e.Code);
            refused.Bridge.Connected += i => refused.Note("connected");
            refused.Call("Start");
            Check(refused.Until(() => refused.Log.Count > 0), "a wrong token is reported");
            Check(refused.Log.SequenceEqual(new[] { "failed 2007" }),
                  "ConnectFailed 2007: " + string.Join(", ", refused.Log));

            var p = new Player();
            var b = p.Bridge;
            b.port = o.Port;
            b.token = o.Token;
            b.maxEventsPerFrame = 3;
            long line = -1;
            b.Connected += info => p.Note("connected");
            b.NpcDeltaReceived += d => p.Note("delta " + (d.Stream == line));
            b.NpcDoneReceived += d => p.Note("done " + (d.Stream == line) + " " + d.Text);
            b.NpcErrorReceived += e => p.Note("error " + e.Error.Code);
            b.Disconnected += r => p.Note("disconnected");
            p.Call("Start");
            Check(p.Until(() => p.Has("connected")), "Connected raised");
            Check(b.IsConnected, "IsConnected");

            b.LoadNpc("name = \"Brom\"\nrole = \"blacksmith\"\n", "smith",
                      id => p.Note("loaded " + id), e => p.Note("load failed " + e.Code));
            Check(p.Until(() => p.Has("load")), "LoadNpc answers");
            Check(p.Has("loaded smith"), "LoadNpc's callback gives the id");

            // The whole reply arrives while the game is busy (no Update): the queue then hands
            // it over at most maxEventsPerFrame per frame, in order.
            line = b.Say("smith", "Can you mend my sword?");
            Thread.Sleep(1000);
            Check(p.Until(() => p.Has("done")), "the reply ends");
            Check(p.MostPerFrame == 3, "a backlog is handed over 3 per frame ("
                  + p.MostPerFrame + ")");
            p.Frames(20); // nothing may follow the end
            var reply = p.Log.Where(l => l.StartsWith("delta") || l.StartsWith("done")).ToList();
            Check(reply.Count >= 2 && reply.Take(reply.Count - 1).All(l => l == "delta True")
                  && reply.Last().StartsWith("done True ")
                  && reply.Count(l => l.StartsWith("done")) == 1,
                  "deltas then exactly one done, all with the handle: " + string.Join(" | ", reply));

            // A call the server cannot serve: the error callback, on the main thread.
            b.Translate("Hello", "en", "es", t => p.Note("translated " + t),
                        e => p.Note("translate error " + e.Code));
            Check(p.Until(() => p.Has("translate")), "Translate answers");
            Check(p.Has("translated ") || p.Has("translate error 2011"),
                  "Translate: a text or 2011: " + p.Log.Last());

            // A say to an unknown NPC: one error event.
            line = b.Say("nobody", "Hello?");
            Check(p.Until(() => p.Has("error")), "an unknown NPC is reported");
            Check(p.Log.Count(l => l.StartsWith("error")) == 1 && p.Has("error 1300"),
                  "one NpcError 1300");

            // Protocol 1.1 through the component: a structured NPC's done carries its choices,
            // and Prepare, Teach, Facts and AdjustRelationship answer on the main thread.
            b.NpcDoneReceived += d =>
            {
                if (d.IsStructured) { p.Note("acted " + d.Emotion + " " + d.Action); }
            };
            b.LoadNpcFile("guard.toml", "guard", id => p.Note("loaded " + id),
                          e => p.Note("load failed " + e.Code), null,
                          new LoadOptions { Structured = true });
            Check(p.Until(() => p.Has("loaded guard") || p.Has("load failed")),
                  "a structured NPC loads: " + p.Log.Last());
            b.Prepare("guard", () => p.Note("prepared"), e => p.Note("prepare failed " + e.Code));
            Check(p.Until(() => p.Has("prepare")) && p.Has("prepared"), "Prepare answers");
            line = b.Say("guard", "Halt? I only want to pass.", new[] { "smith" }, "focused");
            Check(p.Until(() => p.Has("acted ")), "the structured reply ends");
            Check(p.Has("acted calm "), "NpcDoneReceived carries the emotion and the action: "
                  + p.Log.First(l => l.StartsWith("acted ")));
            b.Teach("guard", "The player paid the toll.", "toll", () => p.Note("taught"),
                    e => p.Note("teach failed " + e.Code));
            b.Facts("guard", f => p.Note("facts " + string.Join(",", f.Select(x => x.Kind))),
                    e => p.Note("facts failed " + e.Code));
            b.AdjustRelationship("guard", 0.5, r => p.Note("relationship " + r),
                                 e => p.Note("relationship failed " + e.Code));
            Check(p.Until(() => p.Has("relationship")), "AdjustRelationship answers");
            int taught = p.Log.IndexOf("taught"), facts = p.Log.IndexOf("facts toll"),
                moved = p.Log.IndexOf("relationship 0.5");
            Check(taught >= 0 && facts > taught && moved > facts,
                  "Teach, Facts, AdjustRelationship answer in order: "
                  + string.Join(" | ", p.Log.Skip(Math.Max(0, p.Log.Count - 4))));

            // One more component, past the server's max_clients (the test allows one client):
            // ConnectFailed 2014, on the main thread.
            var extra = new Player();
            extra.Bridge.port = o.Port;
            extra.Bridge.token = o.Token;
            extra.Bridge.ConnectFailed += e => extra.Note("failed " + e.Code);
            extra.Bridge.Connected += i => extra.Note("connected");
            extra.Call("Start");
            Check(extra.Until(() => extra.Log.Count > 0), "a client past the limit is reported");
            Check(extra.Log.SequenceEqual(new[] { "failed 2014" }),
                  "ConnectFailed 2014 (TooManyClients): " + string.Join(", ", extra.Log));

            p.Call("OnDestroy");
            Check(!b.IsConnected, "OnDestroy closes the connection");
            Check(p.OffThread == 0 && refused.OffThread == 0 && extra.OffThread == 0,
                  "every event and callback ran on the main thread (" + p.OffThread + " did not)");
            Check(p.MostPerFrame <= 3, "at most maxEventsPerFrame per frame (" + p.MostPerFrame + ")");
            Console.WriteLine("component: " + p.Log.Count + " events, most per frame "
                              + p.MostPerFrame);
        }
    }
}
