// Typed notifications of the npc-ai bridge (docs/PROTOCOL.md, section 5). Each is built from
// the notification's params map; keys this client does not know are ignored, as the protocol
// asks, and a missing key leaves its default.
//
// Stream ids here are the client's handles: the value BridgeClient.Say returned, not the
// server's stream id (the client maps one to the other; see BridgeClient).
using System;
using System.Collections.Generic;

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
    /// line.</summary>
    public sealed class NpcDone
    {
        public NpcDone(long stream, string npc, string text, string finishReason)
        {
            Stream = stream;
            Npc = npc;
            Text = text;
            FinishReason = finishReason;
        }

        public long Stream { get; private set; }
        public string Npc { get; private set; }
        public string Text { get; private set; }

        /// <summary>"stop", "sentences", "length", "blocked", "fallback" or
        /// "cancelled".</summary>
        public string FinishReason { get; private set; }
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
