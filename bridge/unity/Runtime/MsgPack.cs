// MessagePack codec for the npc-ai bridge (docs/PROTOCOL.md, section 1).
//
// C# 6 and the .NET 4.x base library only, so the same file compiles in Unity and with Mono's
// mcs. Values map to C# types as follows:
//
//   nil -> null         bool -> bool          int (every width) -> long
//   float32 -> float    float64 -> double     str -> string        bin -> byte[]
//   array -> List<object>                     map -> Dictionary<string, object>
//
// The encoder writes the smallest encoding of each value (as the golden vectors do). The
// decoder accepts every width, checks every length against the bytes that remain before it
// allocates anything, limits nesting, and throws MsgPackException for anything it cannot read:
// truncated input, trailing bytes, the unused tag 0xc1, invalid UTF-8, a map key that is not a
// string, an unsigned integer beyond the signed 64-bit range, and ext types (the protocol does
// not use them; the decoder reads their length so the error names the right tag).
using System;
using System.Collections;
using System.Collections.Generic;
using System.Text;

namespace NpcAi.Bridge
{
    /// <summary>Bytes that are not one valid MessagePack value of this protocol, or a value
    /// that cannot be encoded.</summary>
    public sealed class MsgPackException : Exception
    {
        public MsgPackException(string message) : base(message) { }
    }

    /// <summary>Encode and decode MessagePack values (see the file header for the type
    /// mapping).</summary>
    public static class MsgPack
    {
        /// <summary>Deepest nesting of arrays and maps the decoder accepts.</summary>
        public const int MaxDepth = 128;

        static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, true);

        // -- encode ---------------------------------------------------------------------------

        /// <summary>The MessagePack bytes of a value.</summary>
        public static byte[] Encode(object value)
        {
            var w = new Writer(64);
            Write(w, value, 0);
            return w.ToArray();
        }

        static void Write(Writer w, object value, int depth)
        {
            if (depth > MaxDepth)
            {
                throw new MsgPackException("value nested deeper than " + MaxDepth + " levels");
            }
            if (value == null) { w.Byte(0xc0); return; }
            if (value is bool) { w.Byte((bool)value ? (byte)0xc3 : (byte)0xc2); return; }
            if (value is string) { WriteString(w, (string)value); return; }
            if (value is byte[]) { WriteBin(w, (byte[])value); return; }
            if (value is float) { w.Byte(0xca); w.BigEndian(SingleBits((float)value), 4); return; }
            if (value is double)
            {
                w.Byte(0xcb);
                w.BigEndian((ulong)BitConverter.DoubleToInt64Bits((double)value), 8);
                return;
            }
            if (value is ulong)
            {
                var u = (ulong)value;
                if (u > long.MaxValue)
                {
                    throw new MsgPackException(
                        "integer " + u + " is beyond the signed 64-bit range the protocol allows");
                }
                WriteInt(w, (long)u);
                return;
            }
            if (value is long || value is int || value is short || value is sbyte
                || value is uint || value is ushort || value is byte)
            {
                WriteInt(w, Convert.ToInt64(value));
                return;
            }
            var map = value as IDictionary;
            if (map != null) { WriteMap(w, map, depth); return; }
            var list = value as IList;
            if (list != null)
            {
                WriteHeader(w, list.Count, 0x90, 15, 0xdc, 0xdd);
                foreach (var item in list) { Write(w, item, depth + 1); }
                return;
            }
            throw new MsgPackException(
                "cannot encode a " + value.GetType().FullName + " (use null, bool, integers, "
                + "float, double, string, byte[], lists and string-keyed dictionaries)");
        }

        static void WriteInt(Writer w, long v)
        {
            if (v >= 0)
            {
                if (v <= 0x7f) { w.Byte((byte)v); }
                else if (v <= 0xff) { w.Byte(0xcc); w.Byte((byte)v); }
                else if (v <= 0xffff) { w.Byte(0xcd); w.BigEndian((ulong)v, 2); }
                else if (v <= 0xffffffffL) { w.Byte(0xce); w.BigEndian((ulong)v, 4); }
                else { w.Byte(0xcf); w.BigEndian((ulong)v, 8); }
            }
            else if (v >= -32) { w.Byte((byte)(0xe0 | (v & 0x1f))); }
            else if (v >= sbyte.MinValue) { w.Byte(0xd0); w.Byte((byte)(sbyte)v); }
            else if (v >= short.MinValue) { w.Byte(0xd1); w.BigEndian((ulong)v, 2); }
            else if (v >= int.MinValue) { w.Byte(0xd2); w.BigEndian((ulong)v, 4); }
            else { w.Byte(0xd3); w.BigEndian((ulong)v, 8); }
        }

        static void WriteString(Writer w, string s)
        {
            var bytes = StrictUtf8.GetBytes(s);
            if (bytes.Length <= 31) { w.Byte((byte)(0xa0 | bytes.Length)); }
            else if (bytes.Length <= 0xff) { w.Byte(0xd9); w.Byte((byte)bytes.Length); }
            else if (bytes.Length <= 0xffff) { w.Byte(0xda); w.BigEndian((ulong)bytes.Length, 2); }
            else { w.Byte(0xdb); w.BigEndian((ulong)bytes.Length, 4); }
            w.Bytes(bytes, 0, bytes.Length);
        }

        static void WriteBin(Writer w, byte[] b)
        {
            if (b.Length <= 0xff) { w.Byte(0xc4); w.Byte((byte)b.Length); }
            else if (b.Length <= 0xffff) { w.Byte(0xc5); w.BigEndian((ulong)b.Length, 2); }
            else { w.Byte(0xc6); w.BigEndian((ulong)b.Length, 4); }
            w.Bytes(b, 0, b.Length);
        }

        static void WriteMap(Writer w, IDictionary map, int depth)
        {
            WriteHeader(w, map.Count, 0x80, 15, 0xde, 0xdf);
            // IDictionary's enumerator gives keys and values in the same (insertion) order.
            foreach (DictionaryEntry entry in map)
            {
                var key = entry.Key as string;
                if (key == null)
                {
                    throw new MsgPackException("map keys must be strings in this protocol");
                }
                WriteString(w, key);
                Write(w, entry.Value, depth + 1);
            }
        }

        static void WriteHeader(Writer w, int count, int fix, int fixMax, byte b16, byte b32)
        {
            if (count <= fixMax) { w.Byte((byte)(fix | count)); }
            else if (count <= 0xffff) { w.Byte(b16); w.BigEndian((ulong)count, 2); }
            else { w.Byte(b32); w.BigEndian((ulong)count, 4); }
        }

        static ulong SingleBits(float f)
        {
            // GetBytes and ToUInt32 share the machine's byte order: the bits come out intact.
            return BitConverter.ToUInt32(BitConverter.GetBytes(f), 0);
        }

        // -- decode ---------------------------------------------------------------------------

        /// <summary>The one value in <paramref name="data"/>; trailing bytes are an
        /// error.</summary>
        public static object Decode(byte[] data)
        {
            if (data == null) { throw new ArgumentNullException("data"); }
            return Decode(data, 0, data.Length);
        }

        /// <summary>The one value in <c>count</c> bytes of <paramref name="data"/> from
        /// <c>offset</c>; trailing bytes are an error.</summary>
        public static object Decode(byte[] data, int offset, int count)
        {
            if (data == null) { throw new ArgumentNullException("data"); }
            if (offset < 0 || count < 0 || offset + count > data.Length)
            {
                throw new ArgumentOutOfRangeException("offset");
            }
            if (count == 0) { throw new MsgPackException("no bytes: expected one value"); }
            var r = new Reader(data, offset, offset + count);
            var value = Read(r, 0);
            if (r.Pos != r.End)
            {
                throw new MsgPackException(
                    (r.End - r.Pos) + " trailing bytes after the value (offset " + (r.Pos - offset)
                    + ")");
            }
            return value;
        }

        static object Read(Reader r, int depth)
        {
            if (depth > MaxDepth)
            {
                throw new MsgPackException("value nested deeper than " + MaxDepth + " levels");
            }
            int at = r.Pos;
            byte tag = r.Byte();
            if (tag <= 0x7f) { return (long)tag; }
            if (tag >= 0xe0) { return (long)(sbyte)tag; }
            if (tag >= 0xa0 && tag <= 0xbf) { return ReadString(r, tag & 0x1f); }
            if (tag >= 0x90 && tag <= 0x9f) { return ReadArray(r, tag & 0x0f, depth); }
            if (tag >= 0x80 && tag <= 0x8f) { return ReadMap(r, tag & 0x0f, depth); }
            switch (tag)
            {
                case 0xc0: return null;
                case 0xc2: return false;
                case 0xc3: return true;
                case 0xc4: return r.Bytes(r.Length(1));
                case 0xc5: return r.Bytes(r.Length(2));
                case 0xc6: return r.Bytes(r.Length(4));
                case 0xca: return SingleFromBits((uint)r.BigEndian(4));
                case 0xcb: return BitConverter.Int64BitsToDouble((long)r.BigEndian(8));
                case 0xcc: return (long)r.BigEndian(1);
                case 0xcd: return (long)r.BigEndian(2);
                case 0xce: return (long)r.BigEndian(4);
                case 0xcf:
                    var u = r.BigEndian(8);
                    if (u > long.MaxValue)
                    {
                        throw new MsgPackException(
                            "uint64 " + u + " at offset " + at + " is beyond the signed 64-bit "
                            + "range the protocol allows");
                    }
                    return (long)u;
                case 0xd0: return (long)(sbyte)r.BigEndian(1);
                case 0xd1: return (long)(short)r.BigEndian(2);
                case 0xd2: return (long)(int)r.BigEndian(4);
                case 0xd3: return (long)r.BigEndian(8);
                case 0xd9: return ReadString(r, r.Length(1));
                case 0xda: return ReadString(r, r.Length(2));
                case 0xdb: return ReadString(r, r.Length(4));
                case 0xdc: return ReadArray(r, r.Length(2), depth);
                case 0xdd: return ReadArray(r, r.Length(4), depth);
                case 0xde: return ReadMap(r, r.Length(2), depth);
                case 0xdf: return ReadMap(r, r.Length(4), depth);
                case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
                    throw Ext(r, at, 1 << (tag - 0xd4));
                case 0xc7: throw Ext(r, at, r.Length(1));
                case 0xc8: throw Ext(r, at, r.Length(2));
                case 0xc9: throw Ext(r, at, r.Length(4));
                default:
                    throw new MsgPackException(
                        "byte 0x" + tag.ToString("x2") + " at offset " + at
                        + " is not a MessagePack type");
            }
        }

        static MsgPackException Ext(Reader r, int at, int size)
        {
            int type = (sbyte)r.Byte();
            r.Need(size);
            return new MsgPackException(
                "MessagePack ext type " + type + " at offset " + at
                + " is not used by the npc-ai protocol");
        }

        static string ReadString(Reader r, int length)
        {
            r.Need(length);
            try
            {
                var s = StrictUtf8.GetString(r.Data, r.Pos, length);
                r.Pos += length;
                return s;
            }
            catch (ArgumentException)
            {
                throw new MsgPackException("a string at offset " + r.Pos + " is not valid UTF-8");
            }
        }

        static List<object> ReadArray(Reader r, int count, int depth)
        {
            // Every element takes at least one byte: a count over the bytes left is a lie.
            r.Need(count);
            var list = new List<object>(count);
            for (int i = 0; i < count; i++) { list.Add(Read(r, depth + 1)); }
            return list;
        }

        static Dictionary<string, object> ReadMap(Reader r, int count, int depth)
        {
            r.Need(count); // each pair takes at least two bytes; checked again as we go
            var map = new Dictionary<string, object>(count);
            for (int i = 0; i < count; i++)
            {
                int at = r.Pos;
                var key = Read(r, depth + 1) as string;
                if (key == null)
                {
                    throw new MsgPackException("map key at offset " + at + " is not a string");
                }
                map[key] = Read(r, depth + 1);
            }
            return map;
        }

        static float SingleFromBits(uint bits)
        {
            return BitConverter.ToSingle(BitConverter.GetBytes(bits), 0);
        }

        sealed class Writer
        {
            byte[] buf;
            int len;

            public Writer(int capacity) { buf = new byte[capacity]; }

            void Room(int n)
            {
                if (len + n <= buf.Length) { return; }
                var bigger = new byte[Math.Max(buf.Length * 2, len + n)];
                Buffer.BlockCopy(buf, 0, bigger, 0, len);
                buf = bigger;
            }

            public void Byte(byte b) { Room(1); buf[len++] = b; }

            public void BigEndian(ulong v, int n)
            {
                Room(n);
                for (int i = n - 1; i >= 0; i--) { buf[len++] = (byte)(v >> (8 * i)); }
            }

            public void Bytes(byte[] b, int offset, int n)
            {
                Room(n);
                Buffer.BlockCopy(b, offset, buf, len, n);
                len += n;
            }

            public byte[] ToArray()
            {
                var result = new byte[len];
                Buffer.BlockCopy(buf, 0, result, 0, len);
                return result;
            }
        }

        sealed class Reader
        {
            public readonly byte[] Data;
            public readonly int End;
            public int Pos;

            public Reader(byte[] data, int pos, int end) { Data = data; Pos = pos; End = end; }

            public void Need(long n)
            {
                if (n > End - Pos)
                {
                    throw new MsgPackException(
                        "truncated: " + n + " more bytes needed at offset " + Pos + ", "
                        + (End - Pos) + " left");
                }
            }

            public byte Byte() { Need(1); return Data[Pos++]; }

            public ulong BigEndian(int n)
            {
                Need(n);
                ulong v = 0;
                for (int i = 0; i < n; i++) { v = (v << 8) | Data[Pos++]; }
                return v;
            }

            /// <summary>An unsigned length field, checked against the bytes left.</summary>
            public int Length(int n)
            {
                var v = BigEndian(n);
                Need((long)v);
                return (int)v;
            }

            public byte[] Bytes(int n)
            {
                Need(n);
                var b = new byte[n];
                Buffer.BlockCopy(Data, Pos, b, 0, n);
                Pos += n;
                return b;
            }
        }
    }
}
