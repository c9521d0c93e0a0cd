// The discovery file `npc-ai serve` writes once it listens (docs/PROTOCOL.md, section 4):
//   {"host": "127.0.0.1", "port": 50123, "token": "...", "pid": 4242, "protocol": 1}
using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;

namespace NpcAi.Bridge
{
    /// <summary>Where a running server listens and the token it wants.</summary>
    public sealed class Discovery
    {
        public Discovery(string host, int port, string token, long pid, long protocol)
        {
            Host = host;
            Port = port;
            Token = token;
            Pid = pid;
            Protocol = protocol;
        }

        public string Host { get; private set; }
        public int Port { get; private set; }
        public string Token { get; private set; }
        public long Pid { get; private set; }
        public long Protocol { get; private set; }

        /// <summary>The default path: <c>$XDG_RUNTIME_DIR/npc-ai/bridge.json</c> when that is
        /// set; otherwise <c>%LOCALAPPDATA%\npc-ai\bridge.json</c> on Windows and
        /// <c>&lt;temp dir&gt;/npc-ai-&lt;uid&gt;/bridge.json</c> elsewhere.</summary>
        public static string DefaultPath()
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            if (!string.IsNullOrEmpty(xdg))
            {
                return Path.Combine(Path.Combine(xdg, "npc-ai"), "bridge.json");
            }
            if (Path.DirectorySeparatorChar == '\\')
            {
                var local = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
                return Path.Combine(Path.Combine(local, "npc-ai"), "bridge.json");
            }
            return Path.Combine(Path.Combine(Path.GetTempPath(), "npc-ai-" + Uid()), "bridge.json");
        }

        [DllImport("libc", EntryPoint = "getuid")]
        static extern uint getuid();

        static string Uid()
        {
            try
            {
                return getuid().ToString();
            }
            catch (Exception) // no libc to call (an unusual platform): the file has to be named
            {
                throw new BridgeException(
                    BridgeException.InputError, "InputError",
                    "cannot tell this user's id to find the discovery file; give the port and "
                    + "token, or the discovery file's path");
            }
        }

        /// <summary>Read the discovery file (the default path when <paramref name="path"/> is
        /// null or empty).</summary>
        /// <exception cref="BridgeException">1300 when the file is missing or not a discovery
        /// file; the message says how to start the server.</exception>
        public static Discovery Read(string path = null)
        {
            if (string.IsNullOrEmpty(path)) { path = DefaultPath(); }
            string text;
            try
            {
                text = File.ReadAllText(path);
            }
            catch (Exception e)
            {
                if (e is FileNotFoundException || e is DirectoryNotFoundException)
                {
                    throw new BridgeException(
                        BridgeException.InputError, "InputError",
                        "no discovery file at " + path + ": is `npc-ai serve` running? Start it, "
                        + "or give the port and token");
                }
                throw new BridgeException(
                    BridgeException.InputError, "InputError",
                    "cannot read the discovery file " + path + ": " + e.Message);
            }
            try
            {
                var map = Json.Parse(text) as Dictionary<string, object>;
                if (map == null) { throw new FormatException("not a JSON object"); }
                object host, port, token, pid, protocol;
                map.TryGetValue("host", out host);
                map.TryGetValue("port", out port);
                map.TryGetValue("token", out token);
                map.TryGetValue("pid", out pid);
                map.TryGetValue("protocol", out protocol);
                if (!(port is long) || (long)port <= 0 || (long)port > 65535 || !(token is string))
                {
                    throw new FormatException("it needs a port (1-65535) and a token");
                }
                return new Discovery(host as string ?? "127.0.0.1", (int)(long)port,
                                     (string)token, pid is long ? (long)pid : 0,
                                     protocol is long ? (long)protocol : 0);
            }
            catch (FormatException e)
            {
                throw new BridgeException(
                    BridgeException.InputError, "InputError",
                    "the discovery file " + path + " is not valid (" + e.Message + ")");
            }
        }
    }
}
