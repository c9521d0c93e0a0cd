// Framing of the npc-ai bridge: a 4-byte little-endian unsigned length, then that many bytes of
// MessagePack (docs/PROTOCOL.md, section 1). No I/O here: the client feeds received bytes in.
using System;
using System.Collections.Generic;

namespace NpcAi.Bridge
{
    /// <summary>Builds frames.</summary>
    public static class Framing
    {
        /// <summary>Bytes of the length prefix.</summary>
        public const int HeaderSize = 4;

        /// <summary>The server's default frame limit (1 MiB); it never sends a larger
        /// frame than the <c>max_frame</c> its hello result reports.</summary>
        public const int DefaultMaxFrame = 1 << 20;

        /// <summary>The payload with its length prefix in front.</summary>
        public static byte[] Frame(byte[] payload)
        {
            if (payload == null) { throw new ArgumentNullException("payload"); }
            var framed = new byte[HeaderSize + payload.Length];
            uint n = (uint)payload.Length;
            framed[0] = (byte)n;
            framed[1] = (byte)(n >> 8);
            framed[2] = (byte)(n >> 16);
            framed[3] = (byte)(n >> 24);
            Buffer.BlockCopy(payload, 0, framed, HeaderSize, payload.Length);
            return framed;
        }
    }

    /// <summary>Splits a byte stream into frame payloads, checking each length before it
    /// buffers the payload.</summary>
    /// <remarks>A length over the limit throws a <see cref="BridgeException"/> with code 2001
    /// (<c>FrameError</c>); the stream cannot be resynchronised, so the reader is dead from
    /// then on and every later <see cref="Feed"/> throws code 2012.</remarks>
    public sealed class FrameReader
    {
        readonly int maxFrame;
        byte[] buf = new byte[4096];
        int start;
        int end;

        public FrameReader(int maxFrame)
        {
            if (maxFrame < 1) { throw new ArgumentOutOfRangeException("maxFrame"); }
            this.maxFrame = maxFrame;
        }

        /// <summary>Largest payload accepted, in bytes.</summary>
        public int MaxFrame { get { return maxFrame; } }

        /// <summary>Bytes received and not yet returned in a payload.</summary>
        public int Buffered { get { return end - start; } }

        /// <summary>True after a framing error.</summary>
        public bool Dead { get; private set; }

        /// <summary>The payloads completed by these bytes (often none, sometimes
        /// several).</summary>
        public List<byte[]> Feed(byte[] data, int offset, int count)
        {
            if (Dead)
            {
                throw new BridgeException(
                    BridgeException.ConnectionDead, "ConnectionDeadError",
                    "the connection is closed after a framing error");
            }
            Append(data, offset, count);
            var frames = new List<byte[]>();
            while (end - start >= Framing.HeaderSize)
            {
                uint n = (uint)(buf[start] | buf[start + 1] << 8 | buf[start + 2] << 16
                                | buf[start + 3] << 24);
                if (n > (uint)maxFrame)
                {
                    Dead = true;
                    start = end = 0;
                    var data2 = new Dictionary<string, object>();
                    data2["length"] = (long)n;
                    data2["max_frame"] = (long)maxFrame;
                    throw new BridgeException(
                        BridgeException.FrameTooLarge, "FrameError",
                        "a frame announces " + n + " bytes, over the limit of " + maxFrame
                        + "; the connection is closed", data2);
                }
                if (end - start - Framing.HeaderSize < n) { break; }
                var payload = new byte[n];
                Buffer.BlockCopy(buf, start + Framing.HeaderSize, payload, 0, (int)n);
                start += Framing.HeaderSize + (int)n;
                frames.Add(payload);
            }
            if (start == end) { start = end = 0; }
            return frames;
        }

        void Append(byte[] data, int offset, int count)
        {
            if (count == 0) { return; }
            if (end + count > buf.Length)
            {
                int live = end - start;
                if (live + count <= buf.Length)
                {
                    Buffer.BlockCopy(buf, start, buf, 0, live);
                }
                else
                {
                    var bigger = new byte[Math.Max(buf.Length * 2, live + count)];
                    Buffer.BlockCopy(buf, start, bigger, 0, live);
                    buf = bigger;
                }
                start = 0;
                end = live;
            }
            Buffer.BlockCopy(data, offset, buf, end, count);
            end += count;
        }
    }
}
