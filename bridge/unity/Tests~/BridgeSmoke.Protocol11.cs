// What protocol 1.1 added, checked two ways (see BridgeSmoke.cs):
//
//   golden11: against tests/test_bridge_unity.py's stand-in server, which checks every request
//       byte for byte against the golden 1.1 vectors and answers with the golden responses:
//       the typed API builds each request, reads each result and the structured npc.done, gets
//       2014 at connect, and says a 1.0 server's refusals of 1.1 calls as "too old".
//   smoke11: against a live `npc-ai serve` (scripted fake model, memory store, no translator):
//       load options, structured replies, overhearing, priority, prepare, facts, teach,
//       relationship and their errors. Prints the overhearing NPC's save blob for the test to
//       read.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;
using NpcAi.Bridge;

static partial class BridgeSmoke
{
    /// <summary>The BridgeException a task faulted with (null: it did not).</summary>
    static BridgeException FaultOf(Task task)
    {
        try { task.Wait(10000); }
        catch (AggregateException e) { return e.InnerException as BridgeException; }
        return null;
    }

    static bool Done(Task task)
    {
        return task.Wait(10000) && task.Status == TaskStatus.RanToCompletion;
    }

    static object DataOf(BridgeException e, string key)
    {
        var data = e == null ? null : e.ErrorData as Dictionary<string, object>;
        object value;
        return data != null && data.TryGetValue(key, out value) ? value : null;
    }

    static class Golden11
    {
        const BindingFlags Hidden = BindingFlags.NonPublic | BindingFlags.Instance;

        /// <summary>The golden vectors carry fixed msgids: the client's next request gets
        /// this one.</summary>
        static void NextId(BridgeClient c, long msgid)
        {
            typeof(BridgeClient).GetField("lastId", Hidden).SetValue(c, msgid - 1);
        }

        public static void Run(BridgeOptions o)
        {
            var client = BridgeClient.Connect(o);
            Check(client.ServerMinor == 1, "hello_response_11 announces minor 1");
            var limits = client.ServerInfo["limits"] as Dictionary<string, object>;
            Check(limits != null && Same(limits["max_clients"], 4L),
                  "hello_response_11 has max_clients: " + Show(limits));
            var dones = new List<NpcDone>();
            var ended = new ManualResetEventSlim();
            client.NpcDoneReceived += d => { lock (dones) { dones.Add(d); } ended.Set(); };

            NextId(client, 11);
            var options = new LoadOptions { Structured = true, Language = "es", Memory = true };
            Check(Get(client.LoadNpcFile("blacksmith.toml", "smith", null, options)) == "smith",
                  "load_request_11 from LoadOptions");

            NextId(client, 12);
            long handle = client.Say("smith", "\u00bfPuedes arreglar mi espada?", 7,
                                     new[] { "guard", "innkeeper" }, "focused");
            Check(handle == 12, "say_request_11 with heardBy and priority");
            Check(ended.Wait(10000), "done_notification_structured_11 arrives");
            lock (dones)
            {
                var done = dones.FirstOrDefault();
                Check(done != null && done.Stream == handle && done.Npc == "smith"
                      && done.Text == "S\u00ed, d\u00e9jala aqu\u00ed."
                      && done.FinishReason == "stop",
                      "the structured done is the reply's end");
                Check(done != null && done.IsStructured && done.Emotion == "calm"
                      && done.Action == "repair" && done.Args.Count == 1
                      && done.Args["item"] == "sword",
                      "NpcDone carries Emotion, Action and Args");
            }

            NextId(client, 13);
            Check(Done(client.Prepare("smith")), "prepare_request_11, answered by its response");

            NextId(client, 14);
            var facts = Get(client.Facts("smith"));
            Check(facts.Count == 2 && facts[0].Kind == "player.name"
                  && facts[0].Text == "Player's name is Ayla." && facts[0].Turn == 1
                  && facts[1].Kind == "quest.ore" && facts[1].Turn == 3,
                  "facts_response_11 read as NpcFact: "
                  + string.Join("; ", facts.Select(f => f.Kind + "@" + f.Turn + " " + f.Text)));

            NextId(client, 15);
            Check(Done(client.Teach("smith", "Ayla agreed to fetch ore from the Greyspur mine.",
                                    "quest.ore")), "teach_request_11");

            NextId(client, 16);
            Check(Get(client.Relationship("smith", 0.25)) == 0.35,
                  "relationship_request_11 and its float64 answer");

            NextId(client, 17);
            var scope = FaultOf(client.Facts("smith"));
            Check(scope != null && scope.Code == BridgeException.InputError
                  && Same(DataOf(scope, "id"), "smith")
                  && Same(DataOf(scope, "loaded_by"), "another client"),
                  "scope_error_response_11 is a BridgeException with its data: " + scope);
            client.Dispose();

            try
            {
                BridgeClient.Connect(o).Dispose();
                Check(false, "a hello past max_clients must be refused");
            }
            catch (BridgeException e)
            {
                Check(e.Code == BridgeException.TooManyClients
                      && e.Message.Contains("--max-clients") && Same(DataOf(e, "max_clients"), 4L),
                      "too_many_clients_response_11 refuses the connect: " + e);
            }

            // A 1.0 server: its refusals of what 1.1 added say the server is too old.
            var old = BridgeClient.Connect(o);
            Check(old.ServerMinor == 0, "a 1.0 hello result has no minor: 0");
            var unknown = FaultOf(old.Facts("smith"));
            Check(unknown != null && unknown.Code == BridgeException.UnknownMethod
                  && unknown.Message.Contains("npc.facts uses protocol 1.1")
                  && unknown.Message.Contains("speaks 1.0"),
                  "a 1.1 method on a 1.0 server: 2004, said as too old: " + unknown);
            var param = FaultOf(old.LoadNpcFile("blacksmith.toml", "smith", null,
                                                new LoadOptions { Structured = true }));
            Check(param != null && param.Code == BridgeException.BadParams
                  && param.Message.Contains("npc.load uses protocol 1.1"),
                  "a 1.1 parameter on a 1.0 server: 2005, said as too old: " + param);
            old.Dispose();
        }
    }

    static class Live11
    {
        public static void Run(BridgeOptions o)
        {
            var client = BridgeClient.Connect(o);
            var seen = new Recorder(client);
            Check(client.ServerMinor >= 1, "the server speaks 1.1: " + Show(client.ServerInfo));

            // Load options: structured, memory on and off; language needs a translator.
            var structured = new LoadOptions { Structured = true };
            Check(Get(client.LoadNpcFile("blacksmith.toml", "smith", null, structured))
                  == "smith", "a structured NPC loads");
            Check(Get(client.LoadNpcFile("guard.toml", "guard", "background",
                                         new LoadOptions { Memory = true })) == "guard",
                  "an NPC with memory loads");
            Check(Get(client.LoadNpcFile("innkeeper.toml", "inn", null,
                                         new LoadOptions { Memory = false })) == "inn",
                  "an NPC without memory loads");
            var noTranslator = FaultOf(client.LoadNpcFile(
                "innkeeper.toml", "inn_es", null, new LoadOptions { Language = "es" }));
            Check(noTranslator != null && noTranslator.Code == BridgeException.Unavailable
                  && Same(DataOf(noTranslator, "param"), "language"),
                  "language without a translator is 2011: " + noTranslator);
            Check(Done(client.Prepare("smith")), "npc.prepare answers once the persona is read");

            // A structured reply, overheard by the guard and the innkeeper, at focused priority.
            long line = client.Say("smith", "My name is Ayla. Can you mend my sword?", null,
                                   new[] { "guard", "inn" }, "focused");
            Check(seen.WaitEnd(line, 10000), "the structured reply ends");
            var done = seen.For(line).OfType<NpcDone>().FirstOrDefault();
            Check(done != null && done.IsStructured && done.Emotion == "calm"
                  && done.Action == "repair" && done.Args.Count == 1
                  && done.Args["item"] == "sword",
                  "NpcDone carries the persona's first emotion and action (the fake's choice)");
            if (done != null)
            {
                Console.WriteLine("structured: " + done.Text + " [" + done.Emotion + ", "
                                  + done.Action + " " + string.Join(",", done.Args.Select(
                                      a => a.Key + "=" + a.Value)) + "]");
            }

            // Other NPCs' replies carry none of it; nor does a cancelled structured reply.
            long plain = client.Say("guard", "Good morning.");
            Check(seen.WaitEnd(plain, 10000), "the guard's reply ends");
            var plainDone = seen.For(plain).OfType<NpcDone>().FirstOrDefault();
            Check(plainDone != null && !plainDone.IsStructured && plainDone.Emotion == null
                  && plainDone.Args.Count == 0, "a plain NPC's done is not structured");
            long cut = client.Say("smith", "Tell me a long story.");
            client.Cancel(cut);
            Check(seen.WaitEnd(cut, 10000), "the cancelled reply ends");
            var cutDone = seen.For(cut).OfType<NpcDone>().FirstOrDefault();
            Check(cutDone != null && cutDone.FinishReason == "cancelled" && !cutDone.IsStructured,
                  "a cancelled structured reply has no choices");

            // heard_by names only this client's NPCs.
            long stranger = client.Say("smith", "Hello?", null, new[] { "nobody" });
            Check(seen.WaitEnd(stranger, 10000), "a say overheard by an unknown id ends");
            var refused = seen.For(stranger);
            Check(refused.Count == 1 && refused[0] is NpcError
                  && ((NpcError)refused[0]).Error.Code == BridgeException.InputError,
                  "an unknown id in heardBy is one NpcError 1300");

            // Facts: found in what the player said, and taught by the game.
            Check(Done(client.Teach("smith", "Ayla agreed to fetch ore from the Greyspur mine.",
                                    "quest.ore")), "npc.teach");
            var facts = Get(client.Facts("smith"));
            Check(facts.Any(f => f.Kind == "player.name" && f.Text.Contains("Ayla") && f.Turn >= 1)
                  && facts.Any(f => f.Kind == "quest.ore" && f.Text.StartsWith("Ayla agreed")),
                  "npc.facts: " + string.Join("; ", facts.Select(f => f.Kind + ": " + f.Text)));
            Check(Get(client.Facts("guard")).Count == 0, "overheard lines teach no facts");
            var noMemory = FaultOf(client.Facts("inn"));
            Check(noMemory != null && noMemory.Code == BridgeException.InputError,
                  "facts of an NPC loaded without memory is 1300: " + noMemory);

            // The relationship, read and moved.
            double before = Get(client.Relationship("smith"));
            double after = Get(client.Relationship("smith", 0.3));
            Check(before >= -1 && before <= 1 && Math.Abs(after - Math.Min(1, before + 0.3)) < 1e-9,
                  "npc.relationship moves by adjust: " + before + " -> " + after);
            Check(Get(client.Relationship("smith")) == after, "and stays moved");
            var tooFar = FaultOf(client.Relationship("smith", 5));
            Check(tooFar != null && tooFar.Code == BridgeException.BadParams,
                  "adjust beyond -2..2 is 2005: " + tooFar);

            // The guard overheard: its save blob, for the test to read.
            var blob = Get(client.ExportMemory(new[] { "guard" }));
            Console.WriteLine("guard memory: " + Convert.ToBase64String(blob));
            client.Dispose();
        }
    }
}
