// Checks of the Unity package's core, outside Unity (Unity ignores folders ending in ~).
// tests/test_bridge_unity.py compiles it with the core using Mono's mcs and runs:
//
//   mono BridgeSmoke.exe golden tests/data/bridge_golden.json
//       the codec and framing against the golden vectors, split reads, 32-bit lengths,
//       and random bytes (which must decode to a value or a MsgPackException, nothing else)
//   mono BridgeSmoke.exe smoke --port P --token T        (or --discovery PATH)
//   mono BridgeSmoke.exe component --port P --token T
//       the NpcAiBridge MonoBehaviour (built with UnityStubs.cs) driven frame by frame: events
//       and callbacks on the main thread, in order, at most maxEventsPerFrame per frame
//   mono BridgeSmoke.exe golden11 --port P --token T     (the 1.1 vectors, BridgeSmoke.Protocol11.cs)
//   mono BridgeSmoke.exe smoke11 --port P --token T      (1.1 against a live server, the same file)
//   mono BridgeSmoke.exe discovery-path                   (prints the default discovery path)
//   mono BridgeSmoke.exe bench --port P --token T [--pings N] [--replies M]
//       figures for tools/bench_clients.py, one JSON line
//       a live server with the scripted fake generator: hello, a wrong token, describe, ping,
//       npc.load, npc.say with streamed deltas and exactly one done, cancel, error cases
//
// Each prints one line per failed check and closes with "N passed, M failed"; exit code 1 when a
// check failed.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using NpcAi.Bridge;

static partial class BridgeSmoke
{
    static int passed;
    static int failed;

    static void Check(bool ok, string what)
    {
        if (ok) { passed++; }
        else { failed++; Console.WriteLine("FAIL " + what); }
    }

    static int Main(string[] args)
    {
        if (args.Length == 1 && args[0] == "discovery-path")
        {
            Console.WriteLine(Discovery.DefaultPath());
            return 0;
        }
        if (args.Length >= 2 && args[0] == "golden") { Golden.Run(args[1]); }
        else if (args.Length >= 1 && args[0] == "smoke") { Smoke.Run(Options(args)); }
        else if (args.Length >= 1 && args[0] == "component") { ComponentRun.Run(Options(args)); }
        else if (args.Length >= 1 && args[0] == "golden11") { Golden11.Run(Options(args)); }
        else if (args.Length >= 1 && args[0] == "smoke11") { Live11.Run(Options(args)); }
        else if (args.Length >= 1 && args[0] == "bench")
        {
            int at = Array.IndexOf(args, "--pings"), rt = Array.IndexOf(args, "--replies");
            BenchRun.Run(Options(args), at > 0 ? int.Parse(args[at + 1]) : 2000,
                         rt > 0 ? int.Parse(args[rt + 1]) : 20);
            return 0;
        }
        else
        {
            Console.Error.WriteLine(
                "usage: BridgeSmoke golden FILE | smoke (--port P --token T | --discovery PATH) "
                + "| component --port P --token T | golden11 --port P --token T "
                + "| smoke11 --port P --token T | discovery-path");
            return 2;
        }
        Console.WriteLine(passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }

    static BridgeOptions Options(string[] args)
    {
        var o = new BridgeOptions { ClientName = "unity-smoke", ConnectTimeoutMs = 10000 };
        for (int i = 1; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--port") { o.Port = int.Parse(args[i + 1]); }
            else if (args[i] == "--token") { o.Token = args[i + 1]; }
            else if (args[i] == "--discovery") { o.DiscoveryPath = args[i + 1]; }
        }
        return o;
    }

    // -- values ---------------------------------------------------------------------------

    /// <summary>A golden vector's object: JSON with the tags $bin, $f32, $f64, $int.</summary>
    internal static object Untag(object json)
    {
        var map = json as Dictionary<string, object>;
        if (map != null)
        {
            if (map.Count == 1)
            {
                var entry = map.First();
                if (entry.Key == "$bin") { return Hex((string)entry.Value); }
                if (entry.Key == "$f32") { return (float)Number(entry.Value); }
                if (entry.Key == "$f64") { return Number(entry.Value); }
                if (entry.Key == "$int")
                {
                    return long.Parse((string)entry.Value, CultureInfo.InvariantCulture);
                }
            }
            var result = new Dictionary<string, object>();
            foreach (var kv in map) { result[kv.Key] = Untag(kv.Value); }
            return result;
        }
        var list = json as List<object>;
        if (list != null) { return list.Select(Untag).ToList(); }
        return json;
    }

    static double Number(object v) { return v is long ? (long)v : (double)v; }

    internal static byte[] Hex(string hex)
    {
        var b = new byte[hex.Length / 2];
        for (int i = 0; i < b.Length; i++)
        {
            b[i] = byte.Parse(hex.Substring(2 * i, 2), NumberStyles.HexNumber);
        }
        return b;
    }

    /// <summary>Equal values of equal C# types (a float32 is not a float64, a bin is not a
    /// string).</summary>
    internal static bool Same(object a, object b)
    {
        if (a == null || b == null) { return a == null && b == null; }
        if (a.GetType() != b.GetType()) { return false; }
        var ba = a as byte[];
        if (ba != null) { return ba.SequenceEqual((byte[])b); }
        var la = a as List<object>;
        if (la != null)
        {
            var lb = (List<object>)b;
            return la.Count == lb.Count && la.Zip(lb, Same).All(x => x);
        }
        var ma = a as Dictionary<string, object>;
        if (ma != null)
        {
            var mb = (Dictionary<string, object>)b;
            // Order matters too: the encoder writes keys in insertion order.
            return ma.Keys.SequenceEqual(mb.Keys) && ma.Keys.All(k => Same(ma[k], mb[k]));
        }
        return a.Equals(b);
    }

    internal static string Show(object v)
    {
        if (v == null) { return "nil"; }
        var b = v as byte[];
        if (b != null) { return "bin(" + BitConverter.ToString(b).Replace("-", "") + ")"; }
        var s = v as string;
        if (s != null) { return "\"" + s + "\""; }
        var d = v as IDictionary;
        if (d != null)
        {
            var parts = new List<string>();
            foreach (DictionaryEntry e in d) { parts.Add(e.Key + ": " + Show(e.Value)); }
            return "{" + string.Join(", ", parts) + "}";
        }
        var l = v as IList;
        if (l != null) { return "[" + string.Join(", ", l.Cast<object>().Select(Show)) + "]"; }
        return v.GetType().Name + " " + Convert.ToString(v, CultureInfo.InvariantCulture);
    }

    // -- golden vectors --------------------------------------------------------------------

    static class Golden
    {
        public static void Run(string path)
        {
            var file = (Dictionary<string, object>)Json.Parse(File.ReadAllText(path));
            int vectors = 0;
            foreach (var key in new[] { "messages", "values" })
            {
                foreach (Dictionary<string, object> v in (List<object>)file[key])
                {
                    Vector(v, key == "messages");
                    vectors++;
                }
            }
            foreach (Dictionary<string, object> v in (List<object>)file["invalid"])
            {
                Invalid(v);
                vectors++;
            }
            Check(vectors > 50, "the golden file has vectors (" + vectors + ")");
            Stream(file);
            Wide();
            Fuzz(file);
        }

        static void Vector(Dictionary<string, object> v, bool message)
        {
            var name = (string)v["name"];
            var obj = Untag(v["object"]);
            var payload = Hex((string)v["payload"]);
            var framed = Hex((string)v["framed"]);
            // Frame and decode.
            var frames = new FrameReader(Framing.DefaultMaxFrame).Feed(framed, 0, framed.Length);
            Check(frames.Count == 1 && frames[0].SequenceEqual(payload), name + ": one frame");
            try
            {
                var got = MsgPack.Decode(payload);
                Check(Same(got, obj), name + ": decode gives " + Show(got) + ", want " + Show(obj));
                if (message) { Message.Parse(got); passed++; }
            }
            catch (Exception e)
            {
                Check(false, name + ": decode threw " + e.Message);
            }
            // Encode, and frame.
            var encoded = MsgPack.Encode(obj);
            Check(encoded.SequenceEqual(payload), name + ": encode gives "
                  + BitConverter.ToString(encoded).Replace("-", "").ToLowerInvariant());
            Check(Framing.Frame(encoded).SequenceEqual(framed), name + ": frame");
        }

        static void Invalid(Dictionary<string, object> v)
        {
            var name = (string)v["name"];
            var framed = Hex((string)v["framed"]);
            long code = (long)v["code"];
            int got = 0;
            try
            {
                foreach (var payload in new FrameReader(Framing.DefaultMaxFrame)
                             .Feed(framed, 0, framed.Length))
                {
                    Message.Decode(payload);
                }
            }
            catch (BridgeException e)
            {
                got = e.Code;
            }
            Check(got == code, name + ": error " + got + ", want " + code);
        }

        /// <summary>Every golden frame in one stream, fed in pieces of every size from 1 to
        /// 7 bytes: the same payloads come out.</summary>
        static void Stream(Dictionary<string, object> file)
        {
            var want = new List<byte[]>();
            var all = new List<byte>();
            foreach (var key in new[] { "messages", "values" })
            {
                foreach (Dictionary<string, object> v in (List<object>)file[key])
                {
                    want.Add(Hex((string)v["payload"]));
                    all.AddRange(Hex((string)v["framed"]));
                }
            }
            var bytes = all.ToArray();
            for (int piece = 1; piece <= 7; piece++)
            {
                var reader = new FrameReader(Framing.DefaultMaxFrame);
                var got = new List<byte[]>();
                for (int i = 0; i < bytes.Length; i += piece)
                {
                    got.AddRange(reader.Feed(bytes, i, Math.Min(piece, bytes.Length - i)));
                }
                Check(got.Count == want.Count && got.Zip(want, (a, b) => a.SequenceEqual(b))
                      .All(x => x) && reader.Buffered == 0,
                      "stream split in pieces of " + piece + " bytes");
            }
        }

        /// <summary>32-bit lengths (str32, bin32, array32, map32) and wider-than-needed
        /// integers decode; values past the protocol's range are refused.</summary>
        static void Wide()
        {
            var big = new string('x', 70000);
            var enc = MsgPack.Encode(big);
            Check(enc[0] == 0xdb && (string)MsgPack.Decode(enc) == big, "str32 round trip");
            var blob = new byte[70000];
            new Random(1).NextBytes(blob);
            enc = MsgPack.Encode(blob);
            Check(enc[0] == 0xc6 && ((byte[])MsgPack.Decode(enc)).SequenceEqual(blob),
                  "bin32 round trip");
            var list = Enumerable.Range(0, 70000).Select(i => (object)(long)i).ToList();
            enc = MsgPack.Encode(list);
            Check(enc[0] == 0xdd && Same(MsgPack.Decode(enc), list), "array32 round trip");
            var map = new Dictionary<string, object>();
            for (int i = 0; i < 70000; i++) { map["k" + i] = (long)i; }
            enc = MsgPack.Encode(map);
            Check(enc[0] == 0xdf && Same(MsgPack.Decode(enc), map), "map32 round trip");
            Check(Same(MsgPack.Decode(Hex("cd0005")), 5L), "a uint16 5 is 5");
            Check(Same(MsgPack.Decode(Hex("d3ffffffffffffffff")), -1L), "an int64 -1 is -1");
            Check(Same(MsgPack.Decode(Hex("db00000002c3a9")), "\u00e9"), "a str32 of 2 bytes");
            Refused("cfffffffffffffffff", "uint64 beyond int64");
            Refused("c1", "the unused tag c1");
            Refused("d40100", "fixext 1");
            Refused("c70201aabb", "ext 8");
            Refused("a2c328", "invalid UTF-8");
            Refused("810102", "a map key that is not a string");
            Refused("dd7fffffff", "array32 claiming 2^31 items in 5 bytes");
            Refused("c6ffffffff00", "bin32 claiming 4 GiB");
            Refused(string.Concat(Enumerable.Repeat("91", 200)) + "c0", "200 nested arrays");
            try { MsgPack.Encode(ulong.MaxValue); Check(false, "ulong max must not encode"); }
            catch (MsgPackException) { passed++; }
        }

        static void Refused(string hex, string what)
        {
            try
            {
                var v = MsgPack.Decode(Hex(hex));
                Check(false, what + ": decoded as " + Show(v));
            }
            catch (MsgPackException) { passed++; }
            catch (Exception e) { Check(false, what + ": threw " + e.GetType().Name); }
        }

        /// <summary>Any bytes give a value or a MsgPackException, never another exception:
        /// every truncation of every golden payload, then mutated and random bytes.</summary>
        static void Fuzz(Dictionary<string, object> file)
        {
            var payloads = new List<byte[]>();
            foreach (var key in new[] { "messages", "values" })
            {
                foreach (Dictionary<string, object> v in (List<object>)file[key])
                {
                    payloads.Add(Hex((string)v["payload"]));
                }
            }
            int truncations = 0, other = 0;
            foreach (var p in payloads)
            {
                for (int n = 0; n < p.Length; n++)
                {
                    try { MsgPack.Decode(p, 0, n); other++; }
                    catch (MsgPackException) { truncations++; }
                    catch (Exception) { other++; }
                }
            }
            Check(other == 0, "every truncated payload is refused (" + other + " were not)");
            var rng = new Random(7);
            int odd = 0;
            string example = "";
            for (int i = 0; i < 20000; i++)
            {
                byte[] data;
                if (i % 2 == 0)
                {
                    data = (byte[])payloads[rng.Next(payloads.Count)].Clone();
                    for (int k = rng.Next(1, 4); k > 0; k--)
                    {
                        data[rng.Next(data.Length)] = (byte)rng.Next(256);
                    }
                }
                else
                {
                    data = new byte[rng.Next(1, 40)];
                    rng.NextBytes(data);
                }
                try { MsgPack.Decode(data); }
                catch (MsgPackException) { }
                catch (Exception e)
                {
                    odd++;
                    example = e.GetType().Name + " on " + BitConverter.ToString(data);
                }
            }
            Check(odd == 0, "random bytes: a value or MsgPackException (" + odd + " others: "
                  + example + ")");
            Check(truncations > 500, "truncations tried (" + truncations + ")");
        }
    }
}
