// MessagePack-RPC messages of the npc-ai bridge (docs/PROTOCOL.md, section 2):
//
//   [0, msgid, method, params]   request        params: [] or [{name: value, ...}]
//   [1, msgid, error, result]    response       msgid nil: answers nothing the server could tie
//   [2, method, params]          notification
//
// No I/O: Encode* give payloads to frame; Parse checks the shape of a decoded payload.
using System;
using System.Collections.Generic;

namespace NpcAi.Bridge
{
    /// <summary>The three kinds of message.</summary>
    public enum MessageKind
    {
        Request = 0,
        Response = 1,
        Notification = 2,
    }

    /// <summary>One decoded MessagePack-RPC message. Fields that a kind does not have are
    /// null (or 0 for <see cref="Msgid"/>).</summary>
    public sealed class Message
    {
        /// <summary>The largest msgid (ids are below 2^32).</summary>
        public const long MaxMsgid = 0xffffffffL;

        Message(MessageKind kind, long? msgid, string method,
                Dictionary<string, object> args, object error, object result)
        {
            Kind = kind;
            Msgid = msgid;
            Method = method;
            Params = args;
            Error = error;
            Result = result;
        }

        public MessageKind Kind { get; private set; }

        /// <summary>The request's id, or the id a response answers (null: it answers a
        /// message the server could not tie to a request).</summary>
        public long? Msgid { get; private set; }

        /// <summary>A request's or notification's method.</summary>
        public string Method { get; private set; }

        /// <summary>A request's or notification's named arguments (empty for
        /// <c>[]</c>).</summary>
        public Dictionary<string, object> Params { get; private set; }

        /// <summary>A response's error map, null on success.</summary>
        public object Error { get; private set; }

        /// <summary>A response's result.</summary>
        public object Result { get; private set; }

        /// <summary>The payload of a request.</summary>
        public static byte[] EncodeRequest(long msgid, string method, IDictionary<string, object> args)
        {
            return MsgPack.Encode(new List<object> { 0L, msgid, method, ParamsArray(args) });
        }

        /// <summary>The payload of a notification.</summary>
        public static byte[] EncodeNotification(string method, IDictionary<string, object> args)
        {
            return MsgPack.Encode(new List<object> { 2L, method, ParamsArray(args) });
        }

        static List<object> ParamsArray(IDictionary<string, object> args)
        {
            var array = new List<object>();
            if (args != null && args.Count > 0) { array.Add(args); }
            return array;
        }

        /// <summary>Decode a payload and check it is a MessagePack-RPC message.</summary>
        /// <exception cref="BridgeException">2002 when the bytes are not one MessagePack value,
        /// 2003 when the value is not a message, 2005 when params is not [] or [map].</exception>
        public static Message Decode(byte[] payload)
        {
            object value;
            try
            {
                value = MsgPack.Decode(payload);
            }
            catch (MsgPackException e)
            {
                throw new BridgeException(
                    BridgeException.Malformed, "MalformedMessageError",
                    "the frame is not one valid MessagePack object (" + e.Message + ")");
            }
            return Parse(value);
        }

        /// <summary>Check the shape of a decoded value.</summary>
        public static Message Parse(object value)
        {
            var a = value as List<object>;
            if (a == null || a.Count == 0)
            {
                throw Bad("a message must be an array [type, ...]");
            }
            long kind = a[0] is long ? (long)a[0] : -1;
            if (kind == 0 && a.Count == 4)
            {
                return new Message(MessageKind.Request, ReadMsgid(a[1]), ReadMethod(a[2]),
                                   ReadParams(a[3]), null, null);
            }
            if (kind == 1 && a.Count == 4)
            {
                long? msgid = a[1] == null ? (long?)null : ReadMsgid(a[1]);
                if (a[2] != null && !(a[2] is Dictionary<string, object>))
                {
                    throw Bad("a response's error must be nil or a map");
                }
                return new Message(MessageKind.Response, msgid, null, null, a[2], a[3]);
            }
            if (kind == 2 && a.Count == 3)
            {
                return new Message(MessageKind.Notification, null, ReadMethod(a[1]),
                                   ReadParams(a[2]), null, null);
            }
            throw Bad("not a MessagePack-RPC message: type " + (kind < 0 ? "?" : kind.ToString())
                      + " with " + a.Count + " elements");
        }

        static long ReadMsgid(object value)
        {
            if (!(value is long) || (long)value < 0 || (long)value > MaxMsgid)
            {
                throw Bad("msgid must be an integer 0..2^32-1");
            }
            return (long)value;
        }

        static string ReadMethod(object value)
        {
            var s = value as string;
            if (string.IsNullOrEmpty(s)) { throw Bad("method must be a non-empty string"); }
            return s;
        }

        static Dictionary<string, object> ReadParams(object value)
        {
            var a = value as List<object>;
            if (a != null && a.Count == 0) { return new Dictionary<string, object>(); }
            if (a != null && a.Count == 1 && a[0] is Dictionary<string, object>)
            {
                return (Dictionary<string, object>)a[0];
            }
            throw new BridgeException(
                BridgeException.BadParams, "BadParamsError",
                "params must be [] or [map of named arguments]");
        }

        static BridgeException Bad(string message)
        {
            return new BridgeException(BridgeException.BadMessage, "BadMessageError", message);
        }
    }
}
