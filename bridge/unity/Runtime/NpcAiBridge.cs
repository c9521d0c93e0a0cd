// The npc-ai bridge as a Unity component. The only file of the package that uses UnityEngine.
//
// BridgeClient raises its events on its reader thread, where Unity's API must not be touched.
// This component queues them (a ConcurrentQueue) and raises its own events in Update() on the
// main thread, at most maxEventsPerFrame per frame, in the order the server sent them. Task
// results of the core are delivered the same way, through the callbacks of the methods below.
//
//   var npc = GetComponent<NpcAiBridge>();
//   npc.Connected += info => npc.LoadNpcFile("blacksmith.toml", "smith");
//   npc.NpcDeltaReceived += d => { if (d.Stream == line) bubble.text += d.Text; };
//   npc.NpcDoneReceived += d => { if (d.Stream == line) bubble.text = d.Text; };
//   line = npc.Say("smith", "Can you mend my sword?");
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading.Tasks;
using UnityEngine;

namespace NpcAi.Bridge
{
    /// <summary>Connects to <c>npc-ai serve</c> and delivers its events on the main
    /// thread.</summary>
    [DisallowMultipleComponent]
    [AddComponentMenu("npc-ai/NpcAi Bridge")]
    public sealed class NpcAiBridge : MonoBehaviour
    {
        [Tooltip("TCP port of npc-ai serve; 0 reads the port and token from the discovery file")]
        public int port;

        [Tooltip("The server's token (only with a port)")]
        public string token = "";

        [Tooltip("Discovery file; empty: the default path")]
        public string discoveryPath = "";

        [Tooltip("A name for the server's logs")]
        public string clientName = "unity";

        public bool connectOnStart = true;

        [Tooltip("Most events raised per frame; the rest wait for the next frame")]
        public int maxEventsPerFrame = 256;

        readonly ConcurrentQueue<Action> inbox = new ConcurrentQueue<Action>();
        BridgeClient client;
        bool connecting;
        volatile bool destroyed; // read by the connect continuation on a pool thread

        /// <summary>The core client (null until connected). Its own events fire on its reader
        /// thread; use this component's events instead.</summary>
        public BridgeClient Client { get { return client; } }

        public bool IsConnected { get { return client != null && client.IsConnected; } }

        // Raised on the main thread, in Update().
        public event Action<Dictionary<string, object>> Connected;
        public event Action<BridgeException> ConnectFailed;
        public event Action<string> Disconnected;
        public event Action<NpcDelta> NpcDeltaReceived;
        public event Action<NpcDone> NpcDoneReceived;
        public event Action<NpcError> NpcErrorReceived;
        public event Action<Caption> SubtitlePartialReceived;
        public event Action<Caption> SubtitleFinalReceived;
        public event Action<CaptionTranslation> SubtitleTranslationReceived;
        public event Action<CaptionError> SubtitleErrorReceived;
        public event Action<BridgeException> ServerError;

        void Start()
        {
            if (connectOnStart) { Connect(); }
        }

        /// <summary>Connect on a pool thread; Connected or ConnectFailed follows.</summary>
        public void Connect()
        {
            if (connecting || IsConnected) { return; }
            connecting = true;
            var options = new BridgeOptions
            {
                Port = port,
                Token = token,
                DiscoveryPath = discoveryPath,
                ClientName = clientName,
            };
            BridgeClient.ConnectAsync(options).ContinueWith(t =>
            {
                if (t.IsFaulted)
                {
                    var error = Unwrap(t.Exception);
                    inbox.Enqueue(() => Failed(error));
                    return;
                }
                var c = t.Result;
                if (destroyed) { c.Dispose(); return; } // no Update will ever run Ready
                Wire(c);
                inbox.Enqueue(() => Ready(c));
            });
        }

        void Wire(BridgeClient c)
        {
            c.NpcDeltaReceived += e => inbox.Enqueue(() => Raise(NpcDeltaReceived, e));
            c.NpcDoneReceived += e => inbox.Enqueue(() => Raise(NpcDoneReceived, e));
            c.NpcErrorReceived += e => inbox.Enqueue(() => Raise(NpcErrorReceived, e));
            c.SubtitlePartialReceived += e => inbox.Enqueue(() => Raise(SubtitlePartialReceived, e));
            c.SubtitleFinalReceived += e => inbox.Enqueue(() => Raise(SubtitleFinalReceived, e));
            c.SubtitleTranslationReceived +=
                e => inbox.Enqueue(() => Raise(SubtitleTranslationReceived, e));
            c.SubtitleErrorReceived += e => inbox.Enqueue(() => Raise(SubtitleErrorReceived, e));
            c.ServerError += e => inbox.Enqueue(() =>
            {
                if (ServerError != null) { ServerError(e); }
                else { Debug.LogWarning("npc-ai: " + e); }
            });
            c.Warning += message => inbox.Enqueue(() => Debug.LogWarning("npc-ai: " + message));
            c.Disconnected += reason => inbox.Enqueue(() => Lost(c, reason));
        }

        void Ready(BridgeClient c)
        {
            connecting = false;
            if (destroyed) { c.Dispose(); return; }
            if (!c.IsConnected) // lost before this frame: report it as a failed connect
            {
                Failed(new BridgeException(BridgeException.ConnectionDead, "ConnectionDeadError",
                                           "the connection closed at once: " + c.CloseReason));
                return;
            }
            client = c;
            Raise(Connected, c.ServerInfo);
        }

        void Failed(BridgeException error)
        {
            connecting = false;
            if (ConnectFailed != null) { ConnectFailed(error); }
            else { Debug.LogWarning("npc-ai: cannot connect: " + error); }
        }

        void Lost(BridgeClient c, string reason)
        {
            if (client != c) { return; } // reported by Ready as a failed connect
            client = null;
            Raise(Disconnected, reason);
        }

        void Update()
        {
            Action action;
            for (int i = 0; i < maxEventsPerFrame && inbox.TryDequeue(out action); i++)
            {
                try { action(); }
                catch (Exception e) { Debug.LogException(e); }
            }
        }

        void OnDestroy()
        {
            destroyed = true;
            if (client != null) { client.Dispose(); client = null; }
        }

        // -- calls whose answers come back on the main thread ---------------------------------

        /// <summary>Deliver a task of the core on the main thread: <paramref name="onDone"/>
        /// with its result, or <paramref name="onError"/> (null: logged).</summary>
        public void Deliver<T>(Task<T> task, Action<T> onDone, Action<BridgeException> onError)
        {
            task.ContinueWith(t =>
            {
                if (t.IsFaulted || t.IsCanceled)
                {
                    var error = Unwrap(t.Exception);
                    inbox.Enqueue(() =>
                    {
                        if (onError != null) { onError(error); }
                        else { Debug.LogWarning("npc-ai: " + error); }
                    });
                }
                else if (onDone != null)
                {
                    var result = t.Result;
                    inbox.Enqueue(() => onDone(result));
                }
            });
        }

        BridgeClient Live()
        {
            if (client == null)
            {
                throw new BridgeException(BridgeException.ConnectionDead, "ConnectionDeadError",
                                          "not connected to npc-ai serve");
            }
            return client;
        }

        /// <summary>Load an NPC from a <c>.toml</c> file in the server's persona folders.
        /// <paramref name="options"/> (protocol 1.1): structured replies (NpcDone then carries
        /// Emotion, Action and Args), the player's language, long-term memory.</summary>
        public void LoadNpcFile(string file, string id = null, Action<string> onLoaded = null,
                                Action<BridgeException> onError = null, string priority = null,
                                LoadOptions options = null)
        {
            Deliver(Live().LoadNpcFile(file, id, priority, options), onLoaded, onError);
        }

        /// <summary>Load an NPC from a persona as TOML text.</summary>
        public void LoadNpc(string personaToml, string id = null, Action<string> onLoaded = null,
                            Action<BridgeException> onError = null, string priority = null,
                            LoadOptions options = null)
        {
            Deliver(Live().LoadNpc(personaToml, id, priority, options), onLoaded, onError);
        }

        /// <summary>The player speaks to an NPC; returns the handle that NpcDeltaReceived,
        /// NpcDoneReceived and NpcErrorReceived carry as Stream. Protocol 1.1:
        /// <paramref name="heardBy"/> names this client's NPCs within earshot (they remember
        /// the exchange as overheard); <paramref name="priority"/> sets the NPC's priority
        /// first.</summary>
        public long Say(string npc, string text, IList<string> heardBy = null,
                        string priority = null)
        {
            return Live().Say(npc, text, null, heardBy, priority);
        }

        /// <summary>Read the NPC's persona into the model now (protocol 1.1; for a loading
        /// screen): <paramref name="onReady"/> once it is read.</summary>
        public void Prepare(string id, Action onReady = null,
                            Action<BridgeException> onError = null)
        {
            Deliver(Then(Live().Prepare(id)), r =>
            {
                if (onReady != null) { onReady(); }
            }, onError);
        }

        /// <summary>What the NPC knows about the player and what the game taught it (protocol
        /// 1.1).</summary>
        public void Facts(string id, Action<List<NpcFact>> onDone,
                          Action<BridgeException> onError = null)
        {
            Deliver(Live().Facts(id), onDone, onError);
        }

        /// <summary>Teach the NPC a fact (protocol 1.1); a newer fact of the same kind
        /// replaces the older one.</summary>
        public void Teach(string id, string text, string kind, Action onDone = null,
                          Action<BridgeException> onError = null)
        {
            Deliver(Then(Live().Teach(id, text, kind)), r =>
            {
                if (onDone != null) { onDone(); }
            }, onError);
        }

        /// <summary>How the NPC feels about the player, -1 to 1 (protocol 1.1).</summary>
        public void Relationship(string id, Action<double> onDone,
                                 Action<BridgeException> onError = null)
        {
            Deliver(Live().Relationship(id), onDone, onError);
        }

        /// <summary>Move how the NPC feels about the player by <paramref name="by"/> (-2 to 2;
        /// a quest done 0.3, a theft seen -0.5), clamped to -1..1; <paramref name="onDone"/>
        /// gets the new value (protocol 1.1).</summary>
        public void AdjustRelationship(string id, double by, Action<double> onDone = null,
                                       Action<BridgeException> onError = null)
        {
            Deliver(Live().Relationship(id, by), onDone, onError);
        }

        /// <summary>Stop a reply; it still ends with one NpcDone ("cancelled").</summary>
        public void Cancel(long handle)
        {
            if (client != null) { Deliver(client.Cancel(handle), null, null); }
        }

        public void SetPriority(string id, string priority)
        {
            Deliver(Then(Live().SetPriority(id, priority)), null, null);
        }

        public void Translate(string text, string source, string target, Action<string> onDone,
                              Action<BridgeException> onError = null)
        {
            Deliver(Live().Translate(text, source, target), onDone, onError);
        }

        /// <summary>A save blob of the NPCs' memory, for the game's save slot.</summary>
        public void ExportMemory(Action<byte[]> onDone, Action<BridgeException> onError = null,
                                 IList<string> ids = null)
        {
            Deliver(Live().ExportMemory(ids), onDone, onError);
        }

        public void ImportMemory(byte[] blob, Action<List<string>> onDone = null,
                                 Action<BridgeException> onError = null)
        {
            Deliver(Live().ImportMemory(blob), onDone, onError);
        }

        public void StartSubtitles(Action<long> onStarted, string language = null,
                                   IList<string> translate = null,
                                   Action<BridgeException> onError = null)
        {
            Deliver(Live().StartSubtitles(language, translate), onStarted, onError);
        }

        /// <summary>Push 16 kHz mono samples in [-1, 1] (resample Unity's 44.1/48 kHz audio
        /// first).</summary>
        public void PushAudio(long session, float[] samples)
        {
            Live().PushAudio(session, BridgeClient.Pcm16(samples, 0, samples.Length));
        }

        public void StopSubtitles(long session, Action onStopped = null)
        {
            Deliver(Then(Live().StopSubtitles(session)), r =>
            {
                if (onStopped != null) { onStopped(); }
            }, null);
        }

        // -- helpers ------------------------------------------------------------------------

        static Task<bool> Then(Task task)
        {
            return task.ContinueWith(t =>
            {
                if (t.IsFaulted) { throw Unwrap(t.Exception); }
                return true;
            });
        }

        static BridgeException Unwrap(AggregateException e)
        {
            Exception inner = e == null ? null : e.GetBaseException();
            var bridge = inner as BridgeException;
            if (bridge != null) { return bridge; }
            return new BridgeException(BridgeException.ConnectionDead, "ConnectionDeadError",
                                       inner == null ? "cancelled" : inner.Message);
        }

        static void Raise<T>(Action<T> handler, T arg)
        {
            if (handler != null) { handler(arg); }
        }
    }
}
