// Errors of the npc-ai bridge as C# sees them: the server's error maps
// {"code", "name", "message", "data"} (docs/PROTOCOL.md, section 6) and the client's own.
using System;
using System.Collections.Generic;

namespace NpcAi.Bridge
{
    /// <summary>An error of the bridge: one the server answered, or one this client found
    /// (framing, a closed connection, a timeout). Match on <see cref="Code"/>, never on the
    /// message.</summary>
    public class BridgeException : Exception
    {
        /// <summary>1300: bad input (unknown NPC id, empty text, ...).</summary>
        public const int InputError = 1300;
        /// <summary>2001: a frame over the size limit; the connection is closed.</summary>
        public const int FrameTooLarge = 2001;
        /// <summary>2002: bytes that are not one MessagePack object of the protocol.</summary>
        public const int Malformed = 2002;
        /// <summary>2003: not a MessagePack-RPC message this side accepts.</summary>
        public const int BadMessage = 2003;
        /// <summary>2004: no such method.</summary>
        public const int UnknownMethod = 2004;
        /// <summary>2005: missing, unknown or mistyped parameters.</summary>
        public const int BadParams = 2005;
        /// <summary>2007: wrong token.</summary>
        public const int Authentication = 2007;
        /// <summary>2008: the server speaks another protocol version.</summary>
        public const int VersionMismatch = 2008;
        /// <summary>2009: too many requests in flight, or too much waiting to be
        /// sent.</summary>
        public const int TooBusy = 2009;
        /// <summary>2011: a protocol method whose component this server lacks.</summary>
        public const int Unavailable = 2011;
        /// <summary>2012: the connection is closed; nothing more can be sent or
        /// received.</summary>
        public const int ConnectionDead = 2012;
        /// <summary>2014 (protocol 1.1): the server already serves its <c>max_clients</c>;
        /// the hello is refused and the connection closed. Close another client, or start the
        /// server with <c>--max-clients N</c>.</summary>
        public const int TooManyClients = 2014;

        public BridgeException(int code, string name, string message, object data = null)
            : base(message)
        {
            Code = code;
            ErrorName = name;
            ErrorData = data;
        }

        /// <summary>The error code (see docs/PROTOCOL.md, section 6).</summary>
        public int Code { get; private set; }

        /// <summary>The error class name, e.g. <c>"UnknownMethodError"</c>.</summary>
        public string ErrorName { get; private set; }

        /// <summary>The error's <c>data</c>: details such as <c>param</c> or
        /// <c>method</c>.</summary>
        public object ErrorData { get; private set; }

        /// <summary>True for the protocol's own errors (2000-2099); domain errors keep npc-ai's
        /// codes.</summary>
        public bool IsProtocolError { get { return Code >= 2000 && Code < 2100; } }

        /// <summary>The error of an error map as the server sends it; a map that does not have
        /// the expected shape still gives an exception that says so.</summary>
        public static BridgeException FromMap(object error)
        {
            var map = error as Dictionary<string, object>;
            if (map == null)
            {
                return new BridgeException(
                    BadMessage, "BadMessageError", "the server sent an error that is not a map");
            }
            object code, name, message, data;
            map.TryGetValue("code", out code);
            map.TryGetValue("name", out name);
            map.TryGetValue("message", out message);
            map.TryGetValue("data", out data);
            return new BridgeException(
                code is long ? (int)(long)code : 1000,
                name as string ?? "NpcAiError",
                message as string ?? "(the server sent no message)",
                data);
        }

        /// <summary>The error as a map, as the protocol sends it.</summary>
        public Dictionary<string, object> ToMap()
        {
            var map = new Dictionary<string, object>();
            map["code"] = (long)Code;
            map["name"] = ErrorName;
            map["message"] = Message;
            map["data"] = ErrorData;
            return map;
        }

        public override string ToString()
        {
            return ErrorName + " (" + Code + "): " + Message;
        }
    }
}
