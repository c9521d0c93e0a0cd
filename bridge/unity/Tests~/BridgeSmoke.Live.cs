// The live part of BridgeSmoke: the core against a running `npc-ai serve` (see BridgeSmoke.cs).
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NpcAi.Bridge;

static partial class BridgeSmoke
{
    /// <summary>Records the reply events of a client, in arrival order.</summary>
    sealed class Recorder
    {
        readonly object gate = new object();
        readonly List<object> events = new List<object>();
        public int Disconnects;

        public Recorder(BridgeClient c)
        {
            c.NpcDeltaReceived += e => Add(e);
            c.NpcDoneReceived += e => Add(e);
            c.NpcErrorReceived += e => Add(e);
            c.Disconnected += reason => { lock (gate) { Disconnects++; Monitor.PulseAll(gate); } };
        }

        void Add(object e) { lock (gate) { events.Add(e); Monitor.PulseAll(gate); } }

        static long StreamOf(object e)
        {
            if (e is NpcDelta) { return ((NpcDelta)e).Stream; }
            if (e is NpcDone) { return ((NpcDone)e).Stream; }
            return ((NpcError)e).Stream;
        }

        public List<object> For(long handle)
        {
            lock (gate) { return events.Where(e => StreamOf(e) == handle).ToList(); }
        }

        /// <summary>Wait for the end (done or error) of a reply.</summary>
        public bool WaitEnd(long handle, int ms)
        {
            var until = DateTime.UtcNow.AddMilliseconds(ms);
            lock (gate)
            {
                while (!events.Any(e => StreamOf(e) == handle && !(e is NpcDelta)))
                {
                    var left = until - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero) { return false; }
                    Monitor.Wait(gate, left);
                }
                return true;
            }
        }

        public bool WaitDisconnect(int ms)
        {
            lock (gate)
            {
                if (Disconnects == 0) { Monitor.Wait(gate, ms); }
                return Disconnects > 0;
            }
        }
    }

    static T Get<T>(Task<T> task)
    {
        if (!task.Wait(10000)) { throw new TimeoutException("no answer within 10 s"); }
        return task.Result;
    }

    /// <summary>The code of the BridgeException a task faulted with (0: it did not).</summary>
    static int CodeOf(Task task)
    {
        try { task.Wait(10000); }
        catch (AggregateException e)
        {
            var b = e.InnerException as BridgeException;
            return b != null ? b.Code : -1;
        }
        return 0;
    }

    static class Smoke
    {
        const string Persona =
            "name = \"Brom\"\nrole = \"blacksmith\"\n";

        public static void Run(BridgeOptions o)
        {
            WrongToken(o);
            var client = BridgeClient.Connect(o);
            var seen = new Recorder(client);
            var serverErrors = new List<BridgeException>();
            client.ServerError += e => { lock (serverErrors) { serverErrors.Add(e); } };
            Check(client.IsConnected, "connected");
            Check(Same(Fields(client.ServerInfo, "protocol"), 1L),
                  "hello answers protocol 1: " + Show(client.ServerInfo));

            // rpc.describe lists every method this client sends.
            var described = Get(client.Describe());
            var names = ((List<object>)described["methods"])
                .Cast<Dictionary<string, object>>().Select(m => (string)m["name"]).ToList();
            foreach (var m in BridgeClient.MethodsUsed)
            {
                Check(names.Contains(m), "rpc.describe lists " + m);
            }

            // Values survive the trip through the server's codec and back.
            var echo = new Dictionary<string, object>();
            echo["ints"] = new List<object> { 0L, -1L, -33L, 255L, -129L, 65536L, long.MinValue,
                                               long.MaxValue };
            echo["float"] = 0.1;
            echo["text"] = "Gr\u00fc\u00df dich, \u935b\u51b6\u5c4b! \ud83d\udd28";
            echo["bin"] = new byte[] { 0, 1, 2, 255 };
            echo["nested"] = new List<object> { new Dictionary<string, object>(), null, true };
            var back = Get(client.Ping(echo));
            Check(Same(back, echo), "ping echoes " + Show(back));

            // npc.load, then a streamed reply that ends with exactly one done.
            Check(Get(client.LoadNpc(Persona, "smith")) == "smith", "npc.load answers the id");
            long say = client.Say("smith", "Can you mend my sword?");
            Check(seen.WaitEnd(say, 10000), "the reply ends");
            Thread.Sleep(300); // nothing may follow the end
            var events = seen.For(say);
            var deltas = events.OfType<NpcDelta>().ToList();
            var dones = events.OfType<NpcDone>().ToList();
            Check(deltas.Count >= 1, "deltas streamed (" + deltas.Count + ")");
            Check(dones.Count == 1 && events.Count == deltas.Count + 1 && events.Last() is NpcDone,
                  "exactly one done, after the deltas: " + string.Join(", ", events.Select(
                      e => e.GetType().Name)));
            if (dones.Count == 1)
            {
                var done = dones[0];
                var joined = string.Concat(deltas.Select(d => d.Text));
                Check(done.Npc == "smith" && done.Text.Length > 0 && joined.Length > 0,
                      "the done carries the npc and the line: " + done.Text);
                Console.WriteLine("reply: " + done.Text + " (" + done.FinishReason + ", "
                                  + deltas.Count + " deltas)");
            }

            // A cancel asked at once (before npc.say is answered) still ends the reply once.
            long cut = client.Say("smith", "Tell me a long story.");
            var cancelled = client.Cancel(cut);
            Check(seen.WaitEnd(cut, 10000), "the cancelled reply ends");
            Thread.Sleep(200);
            var cutEvents = seen.For(cut);
            var cutDone = cutEvents.OfType<NpcDone>().ToList();
            Check(cutDone.Count == 1 && cutEvents.OfType<NpcError>().Count() == 0,
                  "a cancelled reply ends with one done");
            bool didCancel = Get(cancelled);
            Check(!didCancel || (cutDone.Count == 1 && cutDone[0].FinishReason == "cancelled"),
                  "cancel true means finish_reason cancelled");
            Console.WriteLine("cancel: " + didCancel + ", finish_reason "
                              + (cutDone.Count == 1 ? cutDone[0].FinishReason : "?"));
            Check(!Get(client.Cancel(cut)), "cancelling an ended reply answers false");

            // Errors: an unknown NPC ends the say with one NpcError (and no done).
            long lost = client.Say("nobody", "Hello?");
            Check(seen.WaitEnd(lost, 10000), "a say to an unknown NPC ends");
            var lostEvents = seen.For(lost);
            Check(lostEvents.Count == 1 && lostEvents[0] is NpcError
                  && ((NpcError)lostEvents[0]).Error.Code == BridgeException.InputError,
                  "a say to an unknown NPC gives one NpcError 1300");
            Check(CodeOf(client.Request("npc.dance")) == BridgeException.UnknownMethod,
                  "an unknown method is 2004");
            var missing = new Dictionary<string, object>();
            missing["npc"] = "smith";
            Check(CodeOf(client.Request("npc.say", missing)) == BridgeException.BadParams,
                  "a missing parameter is 2005");
            Check(CodeOf(client.LoadNpc(Persona, "smith")) == BridgeException.InputError,
                  "loading an id twice is 1300");
            var badPersona = new Dictionary<string, object>();
            badPersona["name"] = "Bob";
            Check(CodeOf(client.LoadNpc(badPersona, "bob")) == 1200, "a bad persona is 1200");
            // A failed notification comes back as an error with msgid nil.
            client.Notify("npc.dance");
            Get(client.Ping()); // the server answers in order: the error has arrived by now
            Thread.Sleep(100);
            lock (serverErrors)
            {
                Check(serverErrors.Count == 1 && serverErrors[0].Code == 2004,
                      "a failed notification is reported as a server error");
            }
            Check(client.IsConnected, "errors did not close the connection");

            // Memory for the save slot: export, then import.
            var blob = Get(client.ExportMemory());
            Check(blob.Length > 0, "npc.export gives a blob (" + blob.Length + " bytes)");
            var restored = Get(client.ImportMemory(blob));
            Check(restored.Count == 1 && restored[0] == "smith",
                  "npc.import restores smith: " + string.Join(",", restored));

            // Closing with a reply under way ends it with one NpcError 2012; calls after it fail.
            long open = client.Say("smith", "Tell me a long story.");
            client.Dispose();
            Check(seen.WaitDisconnect(2000), "Disconnected raised");
            var openEvents = seen.For(open).Where(e => !(e is NpcDelta)).ToList();
            Check(openEvents.Count == 1 && openEvents[0] is NpcError
                  && ((NpcError)openEvents[0]).Error.Code == BridgeException.ConnectionDead,
                  "a reply open at close ends with one NpcError 2012");
            try
            {
                client.Say("smith", "still there?");
                Check(false, "Say after Dispose must throw");
            }
            catch (BridgeException e)
            {
                Check(e.Code == BridgeException.ConnectionDead, "Say after Dispose is 2012");
            }
        }

        static void WrongToken(BridgeOptions o)
        {
            var bad = new BridgeOptions { Host = o.Host, Port = o.Port, Token = "wrong-token",
                                          ConnectTimeoutMs = o.ConnectTimeoutMs };
            if (bad.Port == 0) { bad.Port = Discovery.Read(o.DiscoveryPath).Port; }
            try
            {
                BridgeClient.Connect(bad).Dispose();
                Check(false, "a wrong token must be refused");
            }
            catch (BridgeException e)
            {
                Check(e.Code == BridgeException.Authentication, "a wrong token is 2007: " + e);
            }
        }

        static object Fields(Dictionary<string, object> map, string key)
        {
            object v;
            return map != null && map.TryGetValue(key, out v) ? v : null;
        }
    }
}
