// Typed notifications of the npc-ai bridge (docs/PROTOCOL.md, section 5). Each is built from
// the notification's params map; keys this client does not know are ignored, as the protocol
// asks, and a missing key leaves its default.
//
// Stream ids here are the client's handles: the value BridgeClient.Say returned, not the
// server's stream id (the client maps one to the other; see BridgeClient).
using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;

namespace NpcAi.Bridge
{
    /// <summary>Helpers reading params maps leniently.</summary>
    static class Fields
    {
        public static long Long(Dictionary<string, object> p, string key)
        {
            object v;
            return p.TryGetValue(key, out v) && v is long ? (long)v : 0;
        }

        public static double Double(Dictionary<string, object> p, string key)
        {
            object v;
            if (!p.TryGetValue(key, out v)) { return 0; }
            if (v is double) { return (double)v; }
            if (v is float) { return (float)v; }
            if (v is long) { return (long)v; }
            return 0;
        }

        public static string Str(Dictionary<string, object> p, string key)
        {
            object v;
            return p.TryGetValue(key, out v) ? v as string ?? "" : "";
        }

        public static bool Bool(Dictionary<string, object> p, string key)
        {
            object v;
            return p.TryGetValue(key, out v) && v is bool && (bool)v;
        }

        public static BridgeException Error(Dictionary<string, object> p, string key)
        {
            object v;
            p.TryGetValue(key, out v);
            return BridgeException.FromMap(v);
        }
    }

    /// <summary><c>npc.delta</c>: more text of a reply; the texts of a stream, concatenated,
    /// are the reply so far.</summary>
    public sealed class NpcDelta
    {
        public NpcDelta(long stream, string text) { Stream = stream; Text = text; }

        /// <summary>The handle <see cref="BridgeClient.Say"/> returned.</summary>
        public long Stream { get; private set; }
        public string Text { get; private set; }
    }

    /// <summary><c>npc.done</c>: the reply ended; <see cref="Text"/> is the whole final
    /// line. A structured NPC's reply (loaded with <see cref="LoadOptions.Structured"/>;
    /// protocol 1.1) also carries <see cref="Emotion"/>, <see cref="Action"/> and
    /// <see cref="Args"/>, except when cancelled.</summary>
    public sealed class NpcDone
    {
        static readonly IDictionary<string, string> NoArgs =
            new ReadOnlyDictionary<string, string>(new Dictionary<string, string>());

        public NpcDone(long stream, string npc, string text, string finishReason)
            : this(stream, npc, text, finishReason, null, null, null)
        {
        }

        public NpcDone(long stream, string npc, string text, string finishReason, string emotion,
                       string action, IDictionary<string, string> args)
        {
            Stream = stream;
            Npc = npc;
            Text = text;
            FinishReason = finishReason;
            Emotion = emotion;
            Action = action;
            Args = args == null ? NoArgs
                : new ReadOnlyDictionary<string, string>(new Dictionary<string, string>(args));
        }

        /// <summary>The notification's params as this client reads them: unknown keys are
        /// ignored; emotion, action and args only when emotion is there.</summary>
        internal static NpcDone FromParams(long handle, Dictionary<string, object> p)
        {
            object emotion;
            if (!p.TryGetValue("emotion", out emotion) || !(emotion is string))
            {
                return new NpcDone(handle, Fields.Str(p, "npc"), Fields.Str(p, "text"),
                                   Fields.Str(p, "finish_reason"));
            }
            var args = new Dictionary<string, string>();
            object raw;
            var map = p.TryGetValue("args", out raw) ? raw as Dictionary<string, object> : null;
            if (map != null)
            {
                foreach (var kv in map) { args[kv.Key] = kv.Value as string ?? ""; }
            }
            object action;
            p.TryGetValue("action", out action);
            return new NpcDone(handle, Fields.Str(p, "npc"), Fields.Str(p, "text"),
                               Fields.Str(p, "finish_reason"), (string)emotion,
                               action as string ?? "none", args);
        }

        public long Stream { get; private set; }
        public string Npc { get; private set; }
        public string Text { get; private set; }

        /// <summary>"stop", "sentences", "length", "blocked", "fallback" or
        /// "cancelled".</summary>
        public string FinishReason { get; private set; }

        /// <summary>True when the reply carries an emotion and an action (a structured NPC's
        /// reply that was not cancelled).</summary>
        public bool IsStructured { get { return Emotion != null; } }

        /// <summary>One of the persona's emotions ("calm"); null when not
        /// <see cref="IsStructured"/>.</summary>
        public string Emotion { get; private set; }

        /// <summary>One of the persona's action names ("repair"), or "none"; null when not
        /// <see cref="IsStructured"/>.</summary>
        public string Action { get; private set; }

        /// <summary>One allowed value for each argument of <see cref="Action"/>
        /// (<c>item</c> → <c>sword</c>); empty for "none", an action without arguments, or a
        /// reply that is not structured. Read-only.</summary>
        public IDictionary<string, string> Args { get; private set; }
    }

    /// <summary>A fact an NPC knows (<c>npc.facts</c>, protocol 1.1).</summary>
    public sealed class NpcFact
    {
        public NpcFact(string kind, string text, long turn)
        {
            Kind = kind;
            Text = text;
            Turn = turn;
        }

        internal NpcFact(Dictionary<string, object> p)
            : this(Fields.Str(p, "kind"), Fields.Str(p, "text"), Fields.Long(p, "turn"))
        {
        }

        /// <summary>What it is about: "player.name", found in what the player said, or a key
        /// the game chose in <c>npc.teach</c> ("quest.ore").</summary>
        public string Kind { get; private set; }

        /// <summary>A sentence in the persona's language ("Player's name is Ayla.").</summary>
        public string Text { get; private set; }

        /// <summary>The NPC's turn counter when it was learned.</summary>
        public long Turn { get; private set; }
    }

    /// <summary><c>npc.error</c>: the reply failed (also raised when the <c>npc.say</c> request
    /// itself was refused, so every Say ends with exactly one NpcDone or NpcError).</summary>
    public sealed class NpcError
    {
        public NpcError(long stream, string npc, BridgeException error)
        {
            Stream = stream;
            Npc = npc;
            Error = error;
        }

        public long Stream { get; private set; }
        public string Npc { get; private set; }
        public BridgeException Error { get; private set; }
    }

    /// <summary>One word of a caption with its times (seconds of pushed audio).</summary>
    public sealed class CaptionWord
    {
        public CaptionWord(string text, double start, double end, double probability)
        {
            Text = text;
            Start = start;
            End = end;
            Probability = probability;
        }

        public string Text { get; private set; }
        public double Start { get; private set; }
        public double End { get; private set; }
        public double Probability { get; private set; }
    }

    /// <summary><c>subtitle.partial</c> (revisable: a later caption of the same
    /// <see cref="Segment"/> replaces it) or <c>subtitle.final</c> (never changes
    /// again).</summary>
    public sealed class Caption
    {
        public Caption(Dictionary<string, object> p, bool isFinal)
        {
            IsFinal = isFinal;
            Session = Fields.Long(p, "session");
            Segment = Fields.Long(p, "segment");
            Revision = Fields.Long(p, "revision");
            Text = Fields.Str(p, "text");
            Start = Fields.Double(p, "start");
            End = Fields.Double(p, "end");
            Language = Fields.Str(p, "language");
            var words = new List<CaptionWord>();
            object raw;
            var list = p.TryGetValue("words", out raw) ? raw as List<object> : null;
            if (list != null)
            {
                foreach (var item in list)
                {
                    var w = item as Dictionary<string, object>;
                    if (w == null) { continue; }
                    words.Add(new CaptionWord(Fields.Str(w, "text"), Fields.Double(w, "start"),
                                              Fields.Double(w, "end"),
                                              Fields.Double(w, "probability")));
                }
            }
            Words = words.AsReadOnly();
        }

        public bool IsFinal { get; private set; }
        public long Session { get; private set; }
        public long Segment { get; private set; }
        public long Revision { get; private set; }
        public string Text { get; private set; }
        public double Start { get; private set; }
        public double End { get; private set; }
        public string Language { get; private set; }
        public IList<CaptionWord> Words { get; private set; }
    }

    /// <summary><c>subtitle.translation</c>: a final caption in another language.</summary>
    public sealed class CaptionTranslation
    {
        public CaptionTranslation(Dictionary<string, object> p)
        {
            Session = Fields.Long(p, "session");
            Segment = Fields.Long(p, "segment");
            Target = Fields.Str(p, "target");
            Text = Fields.Str(p, "text");
            Start = Fields.Double(p, "start");
            End = Fields.Double(p, "end");
        }

        public long Session { get; private set; }
        public long Segment { get; private set; }
        public string Target { get; private set; }
        public string Text { get; private set; }
        public double Start { get; private set; }
        public double End { get; private set; }
    }

    /// <summary><c>subtitle.error</c>; when <see cref="Fatal"/> the session has
    /// ended.</summary>
    public sealed class CaptionError
    {
        public CaptionError(Dictionary<string, object> p)
        {
            Session = Fields.Long(p, "session");
            Error = Fields.Error(p, "error");
            Fatal = Fields.Bool(p, "fatal");
        }

        public long Session { get; private set; }
        public BridgeException Error { get; private set; }
        public bool Fatal { get; private set; }
    }
}
