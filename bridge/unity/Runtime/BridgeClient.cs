// The npc-ai bridge client core: one TCP connection to `npc-ai serve`, a reader thread, a
// writer thread, requests matched to responses by msgid, notifications raised as events.
// No Unity here (NpcAiBridge.cs is the MonoBehaviour), so it builds with Mono's mcs and runs in
// any .NET 4.x host.
//
// Threading: the public methods may be called from any thread and never wait for the network
// (frames are queued for the writer thread), except Connect, which waits for the handshake.
// Events are raised on the reader thread, in the order the server sent them; in Unity, use
// NpcAiBridge, which re-raises them in Update() on the main thread. Tasks complete on a pool
// thread (their continuations never run on the reader thread).
//
// Replies: Say returns a handle at once (the msgid of its npc.say request). The handle is the
// Stream of the NpcDelta/NpcDone/NpcError events of that reply; the client maps the server's
// stream id to it (the server answers npc.say before any delta, so the map is always ready).
// Every Say ends with exactly one NpcDone or NpcError, also when the request is refused (unknown
// NPC, bad params) or the connection is lost.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;

namespace NpcAi.Bridge
{
    /// <summary>How to reach the server. With <see cref="Port"/> 0 the port and token come from
    /// the discovery file.</summary>
    public sealed class BridgeOptions
    {
        public string Host = "127.0.0.1";
        public int Port;
        public string Token;
        /// <summary>The discovery file; null or empty: the default path.</summary>
        public string DiscoveryPath;
        /// <summary>A name for the server's logs.</summary>
        public string ClientName = "unity";
        public int ConnectTimeoutMs = 5000;
        /// <summary>Largest frame accepted from the server (npc.export blobs can be
        /// large).</summary>
        public int MaxFrame = 64 << 20;
        /// <summary>Bytes queued for sending before Send refuses more (the server is not
        /// reading).</summary>
        public int MaxSendQueue = 8 << 20;
    }

    /// <summary>A connection to <c>npc-ai serve</c>.</summary>
    public sealed partial class BridgeClient : IDisposable
    {
        /// <summary>The protocol major version this client speaks.</summary>
        public const int ProtocolVersion = 1;

        /// <summary>Every method this client sends; a server must list them all in
        /// rpc.describe.</summary>
        public static readonly string[] MethodsUsed =
        {
            "rpc.hello", "rpc.describe", "rpc.ping", "npc.load", "npc.unload", "npc.priority",
            "npc.say", "npc.cancel", "npc.export", "npc.import", "npc.prepare", "npc.facts",
            "npc.teach", "npc.relationship", "translate.text", "subtitle.start",
            "subtitle.push", "subtitle.stop",
        };

        /// <summary>What protocol 1.1 added: its methods, and its parameters of 1.0
        /// methods.</summary>
        static readonly string[] Methods11 =
        {
            "npc.prepare", "npc.facts", "npc.teach", "npc.relationship",
        };
        static readonly string[] LoadParams11 = { "structured", "language", "memory" };
        static readonly string[] SayParams11 = { "heard_by", "priority" };

        sealed class Pending
        {
            public TaskCompletionSource<object> Tcs; // null for npc.say (events report it)
            public Reply Say;
            public string Method;
            public bool Uses11; // a 1.0 server refuses it with 2004 or 2005
        }

        sealed class Reply
        {
            public long Handle;
            public string Npc;
            public long? ServerStream;
            public TaskCompletionSource<bool> Cancel; // a cancel asked before the stream id came
        }

        readonly object gate = new object();
        readonly Dictionary<long, Pending> pending = new Dictionary<long, Pending>();
        readonly Dictionary<long, Reply> replies = new Dictionary<long, Reply>(); // by handle
        readonly Dictionary<long, Reply> byStream = new Dictionary<long, Reply>(); // server id
        readonly Queue<byte[]> outbox = new Queue<byte[]>();
        readonly BridgeOptions options;
        readonly FrameReader frames;
        TcpClient tcp;
        NetworkStream net;
        Thread reader;
        Thread writer;
        int outboxBytes;
        long lastId;
        bool closed;

        BridgeClient(BridgeOptions options)
        {
            this.options = options;
            frames = new FrameReader(options.MaxFrame);
        }

        /// <summary>What the server answered to the hello: <c>server</c>, <c>protocol</c>,
        /// <c>minor</c> (1.1), <c>limits</c>.</summary>
        public Dictionary<string, object> ServerInfo { get; private set; }

        /// <summary>The server's minor protocol version: 1 for a 1.1 server, 0 for a 1.0 one
        /// (which sends no <c>minor</c>). What 1.1 added needs 1 or more.</summary>
        public int ServerMinor
        {
            get
            {
                var info = ServerInfo;
                object minor;
                return info != null && info.TryGetValue("minor", out minor) && minor is long
                    ? (int)(long)minor : 0;
            }
        }

        /// <summary>Why the connection ended (null while it is open).</summary>
        public string CloseReason { get; private set; }

        public bool IsConnected { get { lock (gate) { return !closed; } } }

        // Events, raised on the reader thread (see the file header).
        public event Action<NpcDelta> NpcDeltaReceived;
        public event Action<NpcDone> NpcDoneReceived;
        public event Action<NpcError> NpcErrorReceived;
        public event Action<Caption> SubtitlePartialReceived;
        public event Action<Caption> SubtitleFinalReceived;
        public event Action<CaptionTranslation> SubtitleTranslationReceived;
        public event Action<CaptionError> SubtitleErrorReceived;
        /// <summary>Every notification as sent (server stream ids untranslated), including
        /// ones this client does not know.</summary>
        public event Action<string, Dictionary<string, object>> NotificationReceived;
        /// <summary>An error response with msgid nil: a message of ours the server could not
        /// read, or a failed notification (data.method names it).</summary>
        public event Action<BridgeException> ServerError;
        /// <summary>The connection ended; the argument says why. Raised once.</summary>
        public event Action<string> Disconnected;
        /// <summary>Something went wrong that nothing else reports (an event handler threw, the
        /// server sent a message a client should not get).</summary>
        public event Action<string> Warning;

        /// <summary>Connect, do the handshake, and return the ready client.</summary>
        /// <exception cref="BridgeException">The server refused the hello (2007 wrong token,
        /// 2008 another protocol version, 2014 the server already serves its
        /// <c>max_clients</c>: close another client or start the server with --max-clients N),
        /// or no discovery file (1300).</exception>
        /// <exception cref="TimeoutException">No connection or no hello answer in
        /// time.</exception>
        /// <exception cref="SocketException">Nothing listens there.</exception>
        public static BridgeClient Connect(BridgeOptions options)
        {
            if (options == null) { throw new ArgumentNullException("options"); }
            string host = options.Host, token = options.Token;
            int port = options.Port;
            if (port == 0)
            {
                var found = Discovery.Read(options.DiscoveryPath);
                host = found.Host;
                port = found.Port;
                token = found.Token;
            }
            var client = new BridgeClient(options);
            try
            {
                client.Open(host, port);
                var args = new Dictionary<string, object>();
                args["protocol"] = (long)ProtocolVersion;
                args["token"] = token ?? "";
                args["client"] = options.ClientName ?? "unity";
                var hello = client.Request("rpc.hello", args);
                client.ServerInfo = Await(hello, options.ConnectTimeoutMs, "the hello answer")
                    as Dictionary<string, object> ?? new Dictionary<string, object>();
                return client;
            }
            catch
            {
                client.Dispose();
                throw;
            }
        }

        /// <summary><see cref="Connect"/> on a pool thread.</summary>
        public static Task<BridgeClient> ConnectAsync(BridgeOptions options)
        {
            return Task.Run(() => Connect(options));
        }

        void Open(string host, int port)
        {
            tcp = new TcpClient();
            var attempt = tcp.BeginConnect(host, port, null, null);
            if (!attempt.AsyncWaitHandle.WaitOne(options.ConnectTimeoutMs))
            {
                throw new TimeoutException(
                    "no connection to " + host + ":" + port + " within "
                    + options.ConnectTimeoutMs + " ms");
            }
            tcp.EndConnect(attempt);
            tcp.NoDelay = true;
            net = tcp.GetStream();
            reader = new Thread(ReadLoop) { IsBackground = true, Name = "npc-ai bridge reader" };
            writer = new Thread(WriteLoop) { IsBackground = true, Name = "npc-ai bridge writer" };
            reader.Start();
            writer.Start();
        }

        /// <summary>Wait for a task; unwraps its exception.</summary>
        public static object Await(Task<object> task, int timeoutMs, string what)
        {
            try
            {
                if (!task.Wait(timeoutMs))
                {
                    throw new TimeoutException("no answer to " + what + " within " + timeoutMs
                                               + " ms");
                }
            }
            catch (AggregateException e)
            {
                throw e.InnerException;
            }
            return task.Result;
        }

        // -- sending ------------------------------------------------------------------------

        /// <summary>Send a request; the task completes with its result or faults with a
        /// <see cref="BridgeException"/>.</summary>
        public Task<object> Request(string method, IDictionary<string, object> args = null)
        {
            var tcs = NewTcs<object>();
            Send(method, args, new Pending { Tcs = tcs });
            return tcs.Task;
        }

        /// <summary>A request whose task completes on the reader thread: only for
        /// <see cref="Then"/>, whose small mapping runs there and whose own task then hands
        /// the result to the caller's continuations on the pool (one thread hop, not
        /// two).</summary>
        Task<object> Call(string method, IDictionary<string, object> args = null)
        {
            var tcs = new TaskCompletionSource<object>();
            Send(method, args, new Pending { Tcs = tcs });
            return tcs.Task;
        }

        /// <summary>Send a notification (no answer; a failure comes back as
        /// <see cref="ServerError"/>).</summary>
        public void Notify(string method, IDictionary<string, object> args = null)
        {
            Enqueue(Framing.Frame(Message.EncodeNotification(method, args)), true);
        }

        long Send(string method, IDictionary<string, object> args, Pending p)
        {
            p.Method = method;
            p.Uses11 = Uses11(method, args);
            lock (gate)
            {
                long id = NextId();
                var frame = Framing.Frame(Message.EncodeRequest(id, method, args));
                Enqueue(frame, false);
                pending[id] = p;
                if (p.Say != null)
                {
                    p.Say.Handle = id;
                    replies[id] = p.Say;
                }
                return id;
            }
        }

        static bool Uses11(string method, IDictionary<string, object> args)
        {
            if (Array.IndexOf(Methods11, method) >= 0) { return true; }
            var added = method == "npc.load" ? LoadParams11
                : method == "npc.say" ? SayParams11 : null;
            if (added == null || args == null) { return false; }
            foreach (var name in added)
            {
                if (args.ContainsKey(name)) { return true; }
            }
            return false;
        }

        /// <summary>The error of a response; a 1.0 server's 2004 (no such method) or 2005 (no
        /// such parameter) to a 1.1 call is said as what it is: the server is too
        /// old.</summary>
        BridgeException ErrorOf(Pending p, object map)
        {
            var error = BridgeException.FromMap(map);
            if (!p.Uses11 || ServerMinor >= 1
                || (error.Code != BridgeException.UnknownMethod
                    && error.Code != BridgeException.BadParams))
            {
                return error;
            }
            return new BridgeException(
                error.Code, error.ErrorName,
                p.Method + " uses protocol 1.1, and this server speaks 1." + ServerMinor
                + ": update npc-ai (the server said: " + error.Message + ")", error.ErrorData);
        }

        long NextId()
        {
            // Called under the lock. Ids wrap below 2^32 and skip ones still unanswered.
            do { lastId = lastId >= Message.MaxMsgid ? 1 : lastId + 1; }
            while (pending.ContainsKey(lastId) || replies.ContainsKey(lastId));
            return lastId;
        }

        void Enqueue(byte[] frame, bool takeLock)
        {
            if (takeLock) { Monitor.Enter(gate); }
            try
            {
                if (closed)
                {
                    throw new BridgeException(
                        BridgeException.ConnectionDead, "ConnectionDeadError",
                        "the connection is closed (" + CloseReason + ")");
                }
                if (outboxBytes + frame.Length > options.MaxSendQueue)
                {
                    throw new BridgeException(
                        2009, "TooBusyError",
                        outboxBytes + " bytes wait to be sent (limit " + options.MaxSendQueue
                        + "): the server is not reading; send less or wait");
                }
                outbox.Enqueue(frame);
                outboxBytes += frame.Length;
                Monitor.PulseAll(gate);
            }
            finally
            {
                if (takeLock) { Monitor.Exit(gate); }
            }
        }

        void WriteLoop()
        {
            while (true)
            {
                byte[] frame;
                lock (gate)
                {
                    while (outbox.Count == 0 && !closed) { Monitor.Wait(gate); }
                    if (closed) { return; }
                    frame = outbox.Dequeue();
                    outboxBytes -= frame.Length;
                }
                try
                {
                    net.Write(frame, 0, frame.Length);
                }
                catch (Exception e)
                {
                    Shutdown("cannot send to the server: " + e.Message);
                    return;
                }
            }
        }

        // -- receiving ----------------------------------------------------------------------

        void ReadLoop()
        {
            var buf = new byte[64 * 1024];
            string reason = "the server closed the connection";
            try
            {
                while (true)
                {
                    int n = net.Read(buf, 0, buf.Length);
                    if (n <= 0) { break; }
                    foreach (var payload in frames.Feed(buf, 0, n)) { Receive(payload); }
                }
            }
            catch (BridgeException e) // framing: the stream cannot be resynchronised
            {
                reason = e.ToString();
            }
            catch (Exception e)
            {
                if (e is IOException || e is ObjectDisposedException || e is SocketException)
                {
                    reason = "the connection was lost: " + e.Message;
                }
                else
                {
                    reason = "the reader failed: " + e;
                }
            }
            Shutdown(reason);
        }

        void Receive(byte[] payload)
        {
            Message m;
            try
            {
                m = Message.Decode(payload);
            }
            catch (BridgeException e)
            {
                // Framing is intact: report it and read on.
                Raise(ServerError, new BridgeException(
                    e.Code, e.ErrorName, "the server sent a bad message: " + e.Message));
                return;
            }
            if (m.Kind == MessageKind.Response) { Answer(m); }
            else if (m.Kind == MessageKind.Notification) { Dispatch(m.Method, m.Params); }
            else { Raise(Warning, "the server sent a request (" + m.Method + "); ignored"); }
        }

        void Answer(Message m)
        {
            if (m.Msgid == null)
            {
                Raise(ServerError, BridgeException.FromMap(m.Error));
                return;
            }
            Pending p;
            lock (gate)
            {
                if (!pending.TryGetValue(m.Msgid.Value, out p))
                {
                    p = null;
                }
                else
                {
                    pending.Remove(m.Msgid.Value);
                }
            }
            if (p == null)
            {
                Raise(Warning, "a response to msgid " + m.Msgid + ", which is not in flight");
                return;
            }
            if (p.Say != null) { Started(p, m); return; }
            if (m.Error != null) { p.Tcs.TrySetException(ErrorOf(p, m.Error)); }
            else { p.Tcs.TrySetResult(m.Result); }
        }

        void Started(Pending p, Message m)
        {
            var reply = p.Say;
            var result = m.Result as Dictionary<string, object>;
            if (m.Error != null || result == null || !(result.ContainsKey("stream")))
            {
                lock (gate) { replies.Remove(reply.Handle); }
                if (reply.Cancel != null) { reply.Cancel.TrySetResult(false); }
                var error = m.Error != null ? ErrorOf(p, m.Error)
                    : new BridgeException(BridgeException.BadMessage, "BadMessageError",
                                          "npc.say answered without a stream id");
                Raise(NpcErrorReceived, new NpcError(reply.Handle, reply.Npc, error));
                return;
            }
            long stream = Fields.Long(result, "stream");
            TaskCompletionSource<bool> cancel;
            lock (gate)
            {
                reply.ServerStream = stream;
                byStream[stream] = reply;
                cancel = reply.Cancel;
            }
            if (cancel != null) { Link(CancelStream(stream), cancel); }
        }

        void Dispatch(string method, Dictionary<string, object> p)
        {
            Raise(NotificationReceived, method, p);
            switch (method)
            {
                case "npc.delta":
                    Raise(NpcDeltaReceived, new NpcDelta(Handle(p, false), Fields.Str(p, "text")));
                    break;
                case "npc.done":
                    Raise(NpcDoneReceived, NpcDone.FromParams(Handle(p, true), p));
                    break;
                case "npc.error":
                    Raise(NpcErrorReceived, new NpcError(
                        Handle(p, true), Fields.Str(p, "npc"), Fields.Error(p, "error")));
                    break;
                case "subtitle.partial":
                    Raise(SubtitlePartialReceived, new Caption(p, false));
                    break;
                case "subtitle.final":
                    Raise(SubtitleFinalReceived, new Caption(p, true));
                    break;
                case "subtitle.translation":
                    Raise(SubtitleTranslationReceived, new CaptionTranslation(p));
                    break;
                case "subtitle.error":
                    Raise(SubtitleErrorReceived, new CaptionError(p));
                    break;
            }
        }

        long Handle(Dictionary<string, object> p, bool last)
        {
            long stream = Fields.Long(p, "stream");
            lock (gate)
            {
                Reply reply;
                if (!byStream.TryGetValue(stream, out reply))
                {
                    return -stream; // not a reply of ours: negative, so it never looks like one
                }
                if (last)
                {
                    byStream.Remove(stream);
                    replies.Remove(reply.Handle);
                }
                return reply.Handle;
            }
        }

        // -- closing ------------------------------------------------------------------------

        void Shutdown(string reason)
        {
            List<Pending> failed;
            List<Reply> open;
            lock (gate)
            {
                if (closed) { return; }
                closed = true;
                CloseReason = reason;
                failed = new List<Pending>(pending.Values);
                open = new List<Reply>(replies.Values);
                pending.Clear();
                replies.Clear();
                byStream.Clear();
                outbox.Clear();
                outboxBytes = 0;
                Monitor.PulseAll(gate);
            }
            try { if (tcp != null) { tcp.Close(); } } catch (Exception) { }
            var dead = new BridgeException(
                BridgeException.ConnectionDead, "ConnectionDeadError",
                "the connection is closed (" + reason + ")");
            foreach (var p in failed)
            {
                if (p.Tcs != null) { p.Tcs.TrySetException(dead); }
            }
            foreach (var r in open)
            {
                if (r.Cancel != null) { r.Cancel.TrySetResult(false); }
                Raise(NpcErrorReceived, new NpcError(r.Handle, r.Npc, dead));
            }
            Raise(Disconnected, reason);
        }

        /// <summary>Close the connection. The server cancels this client's replies and removes
        /// its NPCs.</summary>
        public void Dispose()
        {
            Shutdown("closed by the client");
            var current = Thread.CurrentThread;
            if (reader != null && reader != current) { reader.Join(1000); }
            if (writer != null && writer != current) { writer.Join(1000); }
        }

        // -- helpers ------------------------------------------------------------------------

        static TaskCompletionSource<T> NewTcs<T>()
        {
            // Continuations must not run on the reader thread: a slow one would stall it.
            return new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        static Task<T> Then<T>(Task<object> task, Func<object, T> map)
        {
            var tcs = NewTcs<T>();
            task.ContinueWith(t =>
            {
                if (t.IsFaulted) { tcs.TrySetException(t.Exception.InnerExceptions); }
                else if (t.IsCanceled) { tcs.TrySetCanceled(); }
                else
                {
                    try { tcs.TrySetResult(map(t.Result)); }
                    catch (Exception e) { tcs.TrySetException(e); }
                }
            }, TaskContinuationOptions.ExecuteSynchronously);
            return tcs.Task;
        }

        static void Link<T>(Task<T> from, TaskCompletionSource<T> to)
        {
            from.ContinueWith(t =>
            {
                if (t.IsFaulted) { to.TrySetException(t.Exception.InnerExceptions); }
                else if (t.IsCanceled) { to.TrySetCanceled(); }
                else { to.TrySetResult(t.Result); }
            }, TaskContinuationOptions.ExecuteSynchronously);
        }

        void Raise<T>(Action<T> handler, T arg)
        {
            if (handler == null) { return; }
            try { handler(arg); }
            catch (Exception e) { RaiseWarning("an event handler threw: " + e); }
        }

        void Raise<T1, T2>(Action<T1, T2> handler, T1 a, T2 b)
        {
            if (handler == null) { return; }
            try { handler(a, b); }
            catch (Exception e) { RaiseWarning("an event handler threw: " + e); }
        }

        void RaiseWarning(string message)
        {
            var handler = Warning;
            if (handler == null) { return; }
            try { handler(message); }
            catch (Exception) { } // nowhere left to report it
        }

        static Dictionary<string, object> Result(object value, string method)
        {
            var map = value as Dictionary<string, object>;
            if (map == null)
            {
                throw new BridgeException(BridgeException.BadMessage, "BadMessageError",
                                          method + " answered something that is not a map");
            }
            return map;
        }
    }
}
