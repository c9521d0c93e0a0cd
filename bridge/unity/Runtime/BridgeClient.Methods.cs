// The protocol's methods as typed calls (docs/PROTOCOL.md, sections 5 and 10). Each returns at
// once; a task faults with a BridgeException carrying the server's error code. What protocol
// 1.1 added (LoadOptions, Say's heardBy and priority, Prepare, Facts, Teach, Relationship)
// fails against a 1.0 server with 2004 or 2005 and a message saying the server is too old.
using System;
using System.Collections.Generic;
using System.Threading.Tasks;

namespace NpcAi.Bridge
{
    public sealed partial class BridgeClient
    {
        /// <summary><c>rpc.describe</c>: the server's methods and whether each is
        /// available.</summary>
        public Task<Dictionary<string, object>> Describe()
        {
            return Then(Call("rpc.describe"), r => Result(r, "rpc.describe"));
        }

        /// <summary><c>rpc.ping</c>: the server sends <paramref name="echo"/> back.</summary>
        public Task<object> Ping(object echo = null)
        {
            var args = new Dictionary<string, object>();
            args["echo"] = echo;
            return Then(Call("rpc.ping", args), r =>
            {
                object value;
                Result(r, "rpc.ping").TryGetValue("echo", out value);
                return value;
            });
        }

        /// <summary><c>npc.load</c> from a persona as TOML text; the task gives the NPC's
        /// id.</summary>
        /// <param name="priority">"focused", "nearby" (default) or "background".</param>
        /// <param name="options">protocol 1.1: structured replies, the player's language,
        /// long-term memory (null: the server's defaults).</param>
        public Task<string> LoadNpc(string personaToml, string id = null, string priority = null,
                                    LoadOptions options = null)
        {
            return Load("persona", personaToml, id, priority, options);
        }

        /// <summary><c>npc.load</c> from a persona as a map of its fields.</summary>
        public Task<string> LoadNpc(IDictionary<string, object> persona, string id = null,
                                    string priority = null, LoadOptions options = null)
        {
            return Load("persona", persona, id, priority, options);
        }

        /// <summary><c>npc.load</c> from a <c>.toml</c> file in one of the server's persona
        /// folders.</summary>
        public Task<string> LoadNpcFile(string file, string id = null, string priority = null,
                                        LoadOptions options = null)
        {
            return Load("file", file, id, priority, options);
        }

        Task<string> Load(string key, object value, string id, string priority,
                          LoadOptions options)
        {
            var args = new Dictionary<string, object>();
            if (id != null) { args["id"] = id; }
            args[key] = value;
            if (priority != null) { args["priority"] = priority; }
            if (options != null)
            {
                if (options.Structured) { args["structured"] = true; }
                if (options.Language != null) { args["language"] = options.Language; }
                if (options.Memory.HasValue) { args["memory"] = options.Memory.Value; }
            }
            return Then(Call("npc.load", args), r => Fields.Str(Result(r, "npc.load"), "id"));
        }

        /// <summary><c>npc.unload</c>: remove an NPC; its reply in progress is
        /// cancelled.</summary>
        public Task UnloadNpc(string id)
        {
            var args = new Dictionary<string, object>();
            args["id"] = id;
            return Request("npc.unload", args);
        }

        /// <summary><c>npc.priority</c>: "focused", "nearby" or "background".</summary>
        public Task SetPriority(string id, string priority)
        {
            var args = new Dictionary<string, object>();
            args["id"] = id;
            args["priority"] = priority;
            return Request("npc.priority", args);
        }

        /// <summary><c>npc.say</c>: the player says <paramref name="text"/> to an NPC.
        /// Returns the reply's handle at once; the reply arrives as NpcDelta events, then
        /// exactly one NpcDone or NpcError with that handle as Stream.</summary>
        /// <param name="seed">the same seed gives the same reply</param>
        /// <param name="heardBy">protocol 1.1: ids of this client's NPCs within earshot; each
        /// remembers the line and the reply as overheard (an id this client did not load ends
        /// the reply with NpcError 1300, and nothing is said)</param>
        /// <param name="priority">protocol 1.1: "focused", "nearby" or "background", set
        /// before the line is queued; it stays, as <see cref="SetPriority"/> does</param>
        /// <exception cref="BridgeException">2012 when the connection is closed; 2009 when
        /// <see cref="BridgeOptions.MaxSendQueue"/> bytes wait unsent (the server is not
        /// reading).</exception>
        public long Say(string npc, string text, long? seed = null, IList<string> heardBy = null,
                        string priority = null)
        {
            var args = new Dictionary<string, object>();
            args["npc"] = npc;
            args["text"] = text;
            if (seed.HasValue) { args["seed"] = seed.Value; }
            if (heardBy != null && heardBy.Count > 0) { args["heard_by"] = heardBy; }
            if (priority != null) { args["priority"] = priority; }
            var reply = new Reply { Npc = npc };
            Send("npc.say", args, new Pending { Say = reply });
            return reply.Handle;
        }

        /// <summary><c>npc.cancel</c>: stop a reply within one model step; it still ends with
        /// one NpcDone (finish reason "cancelled"). The task gives false when the reply had
        /// already ended or the handle is unknown.</summary>
        public Task<bool> Cancel(long handle)
        {
            long stream;
            lock (gate)
            {
                Reply reply;
                if (!replies.TryGetValue(handle, out reply)) { return Task.FromResult(false); }
                if (reply.ServerStream == null)
                {
                    // npc.say is not answered yet: cancel as soon as its stream id comes.
                    if (reply.Cancel == null) { reply.Cancel = NewTcs<bool>(); }
                    return reply.Cancel.Task;
                }
                stream = reply.ServerStream.Value;
            }
            return CancelStream(stream);
        }

        Task<bool> CancelStream(long stream)
        {
            var args = new Dictionary<string, object>();
            args["stream"] = stream;
            return Then(Call("npc.cancel", args),
                        r => Fields.Bool(Result(r, "npc.cancel"), "cancelled"));
        }

        /// <summary><c>npc.export</c>: a save blob of the NPCs' memory (all of this client's
        /// NPCs when <paramref name="ids"/> is null), for the game's save slot.</summary>
        public Task<byte[]> ExportMemory(IList<string> ids = null)
        {
            var args = new Dictionary<string, object>();
            if (ids != null) { args["ids"] = ids; }
            return Then(Call("npc.export", args), r =>
            {
                object blob;
                Result(r, "npc.export").TryGetValue("blob", out blob);
                var bytes = blob as byte[];
                if (bytes == null)
                {
                    throw new BridgeException(BridgeException.BadMessage, "BadMessageError",
                                              "npc.export answered no blob");
                }
                return bytes;
            });
        }

        /// <summary><c>npc.import</c>: restore NPC memory from a save blob (the NPCs must be
        /// loaded); the task gives the ids restored.</summary>
        public Task<List<string>> ImportMemory(byte[] blob)
        {
            var args = new Dictionary<string, object>();
            args["blob"] = blob;
            return Then(Call("npc.import", args), r =>
            {
                object raw;
                Result(r, "npc.import").TryGetValue("ids", out raw);
                var ids = new List<string>();
                var list = raw as List<object>;
                if (list != null)
                {
                    foreach (var item in list) { ids.Add(item as string ?? ""); }
                }
                return ids;
            });
        }

        /// <summary><c>npc.prepare</c> (1.1): read the NPC's persona into the model's cache
        /// now, so its first reply starts sooner (a loading screen). Completes once the reading
        /// is done, from milliseconds to a few seconds later; other calls are answered
        /// meanwhile.</summary>
        public Task Prepare(string id)
        {
            var args = new Dictionary<string, object>();
            args["id"] = id;
            return Request("npc.prepare", args);
        }

        /// <summary><c>npc.facts</c> (1.1): what the NPC knows about the player and what the
        /// game taught it, the newest fact of each kind, oldest first. Needs the server's
        /// memory store (2011 without one).</summary>
        public Task<List<NpcFact>> Facts(string id)
        {
            var args = new Dictionary<string, object>();
            args["id"] = id;
            return Then(Call("npc.facts", args), r =>
            {
                object raw;
                Result(r, "npc.facts").TryGetValue("facts", out raw);
                var facts = new List<NpcFact>();
                var list = raw as List<object>;
                if (list != null)
                {
                    foreach (var item in list)
                    {
                        var fact = item as Dictionary<string, object>;
                        if (fact != null) { facts.Add(new NpcFact(fact)); }
                    }
                }
                return facts;
            });
        }

        /// <summary><c>npc.teach</c> (1.1): the NPC knows <paramref name="text"/> from now on
        /// (in the persona's language); a newer fact of the same <paramref name="kind"/>
        /// ("quest.ore") replaces the older one.</summary>
        public Task Teach(string id, string text, string kind)
        {
            var args = new Dictionary<string, object>();
            args["id"] = id;
            args["text"] = text;
            args["kind"] = kind;
            return Request("npc.teach", args);
        }

        /// <summary><c>npc.relationship</c> (1.1): how the NPC feels about the player, from -1
        /// (hostile) to 1 (friendly). With <paramref name="adjust"/> (-2 to 2: a quest done
        /// 0.3, a theft seen -0.5) it is first moved by that much, clamped to -1..1; the task
        /// gives the new value.</summary>
        public Task<double> Relationship(string id, double? adjust = null)
        {
            var args = new Dictionary<string, object>();
            args["id"] = id;
            if (adjust.HasValue) { args["adjust"] = adjust.Value; }
            return Then(Call("npc.relationship", args),
                        r => Fields.Double(Result(r, "npc.relationship"), "relationship"));
        }

        /// <summary><c>translate.text</c> between ISO 639-1 languages ("en", "es",
        /// ...).</summary>
        public Task<string> Translate(string text, string source, string target)
        {
            var args = new Dictionary<string, object>();
            args["text"] = text;
            args["source"] = source;
            args["target"] = target;
            return Then(Call("translate.text", args),
                        r => Fields.Str(Result(r, "translate.text"), "text"));
        }

        /// <summary><c>subtitle.start</c>: live captions of audio pushed with
        /// <see cref="PushAudio"/>; the task gives the session id.</summary>
        /// <param name="language">the spoken language; null: detected</param>
        /// <param name="translate">languages to translate final captions into</param>
        public Task<long> StartSubtitles(string language = null, IList<string> translate = null)
        {
            var args = new Dictionary<string, object>();
            if (language != null) { args["language"] = language; }
            if (translate != null) { args["translate"] = translate; }
            return Then(Call("subtitle.start", args),
                        r => Fields.Long(Result(r, "subtitle.start"), "session"));
        }

        /// <summary><c>subtitle.push</c> as a notification: 16 kHz mono signed 16-bit
        /// little-endian PCM, a whole number of samples (100-500 ms per chunk is
        /// typical).</summary>
        public void PushAudio(long session, byte[] pcm)
        {
            if (pcm == null) { throw new ArgumentNullException("pcm"); }
            var args = new Dictionary<string, object>();
            args["session"] = session;
            args["pcm"] = pcm;
            Notify("subtitle.push", args);
        }

        /// <summary>PCM from float samples in [-1, 1] (Unity's AudioClip.GetData), already
        /// at 16 kHz mono.</summary>
        public static byte[] Pcm16(float[] samples, int offset, int count)
        {
            var pcm = new byte[count * 2];
            for (int i = 0; i < count; i++)
            {
                float f = samples[offset + i];
                int v = (int)Math.Round((f < -1f ? -1f : f > 1f ? 1f : f) * 32767f);
                pcm[2 * i] = (byte)v;
                pcm[2 * i + 1] = (byte)(v >> 8);
            }
            return pcm;
        }

        /// <summary><c>subtitle.stop</c>: completes once the session's last captions have been
        /// sent.</summary>
        public Task StopSubtitles(long session)
        {
            var args = new Dictionary<string, object>();
            args["session"] = session;
            return Request("subtitle.stop", args);
        }
    }

    /// <summary>The options of <c>npc.load</c> that protocol 1.1 added (section 10.2). Each
    /// left at its default is not sent, so the server's default applies.</summary>
    public sealed class LoadOptions
    {
        /// <summary>Each reply also picks an emotion and an action from the persona's own;
        /// <see cref="NpcDone"/> carries them (<see cref="NpcDone.IsStructured"/>).</summary>
        public bool Structured;

        /// <summary>The player's language (ISO 639-1, "es"): the player's lines are translated
        /// for the NPC and its replies back. Null: the persona's language. Error 2011 on a
        /// server without a translator, 1701 for a pair it lacks.</summary>
        public string Language;

        /// <summary>Long-term memory in the server's store: true (error 2011 on a server
        /// without one), false (the NPC remembers only this connection), null: the server's
        /// default (true when it has a store).</summary>
        public bool? Memory;
    }
}
