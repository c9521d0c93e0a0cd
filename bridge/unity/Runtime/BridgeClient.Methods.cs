// The protocol's methods as typed calls (docs/PROTOCOL.md, section 5). Each returns at once;
// a task faults with a BridgeException carrying the server's error code.
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
        public Task<string> LoadNpc(string personaToml, string id = null, string priority = null)
        {
            return Load("persona", personaToml, id, priority);
        }

        /// <summary><c>npc.load</c> from a persona as a map of its fields.</summary>
        public Task<string> LoadNpc(IDictionary<string, object> persona, string id = null,
                                    string priority = null)
        {
            return Load("persona", persona, id, priority);
        }

        /// <summary><c>npc.load</c> from a <c>.toml</c> file in one of the server's persona
        /// folders.</summary>
        public Task<string> LoadNpcFile(string file, string id = null, string priority = null)
        {
            return Load("file", file, id, priority);
        }

        Task<string> Load(string key, object value, string id, string priority)
        {
            var args = new Dictionary<string, object>();
            if (id != null) { args["id"] = id; }
            args[key] = value;
            if (priority != null) { args["priority"] = priority; }
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
        /// <exception cref="BridgeException">2012 when the connection is closed; 2009 when
        /// <see cref="BridgeOptions.MaxSendQueue"/> bytes wait unsent (the server is not
        /// reading).</exception>
        public long Say(string npc, string text, long? seed = null)
        {
            var args = new Dictionary<string, object>();
            args["npc"] = npc;
            args["text"] = text;
            if (seed.HasValue) { args["seed"] = seed.Value; }
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
}
