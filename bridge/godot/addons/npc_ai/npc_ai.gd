# gdlint: disable=max-public-methods
# (the autoload is the protocol's face: one method per call a game makes, 26 of them)
## The npc-ai bridge client (docs/PROTOCOL.md), added by the plug-in as the autoload "NpcAi".
##
## It connects with StreamPeerTCP to `npc-ai serve` on 127.0.0.1 and never blocks: _process()
## polls the socket, writes what the socket takes, reads what has arrived and emits signals for
## at most max_messages_per_frame messages per frame. Calls made before the handshake is done
## are queued and sent after it.
##
## say() returns a handle at once; every signal of that reply carries it as `stream`: zero or
## more npc_delta, then exactly one npc_done or npc_error. A refused say (unknown NPC) and a lost
## connection also end the reply with one npc_error. (The handle is the msgid of the npc.say
## request; the client maps the server's stream id to it, since the server answers npc.say
## before any delta.)
##
## Methods that take `callback` call it as callback.call(result, error): error is an empty
## Dictionary on success, else {code, name, message, data} (match on code, never message).
##
## Protocol 1.1 (docs/PROTOCOL.md, section 10) adds load options (structured, language,
## memory), say's heard_by and priority, prepare_npc, get_facts, teach, get_relationship and
## adjust_relationship, and the npc_acted signal. Against a 1.0 server (server_minor() 0) they
## fail with 2004 or 2005 and a message saying the server is too old.
extends Node

## The handshake is done; `server` is the hello result {server, protocol, minor, limits}
## (no minor: a 1.0 server).
signal connected(server: Dictionary)
## No connection, or the server refused the hello: wrong token (code 2007, AUTHENTICATION) or
## a server that already serves its max_clients (code 2014, TOO_MANY_CLIENTS; the message says
## to close another client or start the server with --max-clients N).
signal connect_failed(error: Dictionary)
## The connection ended after connected; open replies have had their npc_error.
signal disconnected(reason: String)
## More text of a reply: the texts of a stream, joined, are the reply so far.
signal npc_delta(stream: int, text: String)
## The reply ended; text is the whole final line. finish_reason: "stop", "sentences",
## "length", "blocked", "fallback" or "cancelled".
signal npc_done(stream: int, text: String, npc: String, finish_reason: String)
## A structured reply's choices (an NPC loaded with {"structured": true}; protocol 1.1), just
## before its npc_done: emotion is one of the persona's emotions, action one of its action
## names or "none", args one allowed value per argument of the action ({} for none). Not
## emitted for a cancelled reply (its choices were never made) nor for other NPCs.
signal npc_acted(stream: int, npc: String, emotion: String, action: String, args: Dictionary)
## The reply failed (or its npc.say was refused, or the connection was lost).
signal npc_error(stream: int, error: Dictionary, npc: String)
## subtitle_start answered: audio may be pushed to this session.
signal subtitle_started(session: int, sample_rate: int)
## A revisable caption {session, segment, revision, text, start, end, language, words}; a later
## caption of the same segment replaces it.
signal subtitle_partial(caption: Dictionary)
## A final caption (same fields); it never changes again.
signal subtitle_final(caption: Dictionary)
## {session, segment, target, text, start, end}, after its final.
signal subtitle_translation(translation: Dictionary)
## With fatal true the session has ended.
signal subtitle_error(session: int, error: Dictionary, fatal: bool)
## Every response (after its callback), for code that prefers signals to callbacks.
signal response(request_id: int, result: Variant, error: Dictionary)
## Every notification as sent (server stream ids, not handles), including unknown ones.
signal notification_received(method: String, params: Dictionary)
## An error response with msgid nil: a message the server could not read, or a failed
## notification (error.data.method names it).
signal server_error(error: Dictionary)

enum State { IDLE, CONNECTING, HELLO, READY }

const MsgPack := preload("msgpack.gd")
const PROTOCOL := 1
const HOST := "127.0.0.1"
## The protocol's error codes this client produces itself.
const CONNECTION_DEAD := 2012
const FRAME_ERROR := 2001
const MALFORMED := 2002
const INPUT_ERROR := 1300
const UNKNOWN_METHOD := 2004
const BAD_PARAMS := 2005
const AUTHENTICATION := 2007
const UNAVAILABLE := 2011
const TOO_MANY_CLIENTS := 2014
const MAX_MSGID := 0xffffffff
## The options load_npc and load_npc_file take (protocol 1.1), with their types.
const LOAD_OPTIONS := {"structured": TYPE_BOOL, "language": TYPE_STRING, "memory": TYPE_BOOL}
## What protocol 1.1 added: its methods, and its parameters of 1.0 methods.
const METHODS_11 := ["npc.prepare", "npc.facts", "npc.teach", "npc.relationship"]
const PARAMS_11 := {
	"npc.load": ["structured", "language", "memory"], "npc.say": ["heard_by", "priority"]
}

## A name for the server's logs.
var client_name := "godot"
## Most messages handled per frame; the rest wait for the next frame.
var max_messages_per_frame := 256
## Most bytes read from the socket per frame.
var max_read_per_frame := 1 << 20
## Largest frame accepted from the server (npc.export blobs can be large).
var max_frame := 64 << 20
## Seconds to connect and finish the handshake.
var connect_timeout := 5.0
## Bytes waiting to be sent before calls are refused (the server is not reading).
var max_outbox := 8 << 20

var _peer: StreamPeerTCP
var _state := State.IDLE
var _token := ""
var _server := {}
var _deadline := 0
var _inbox := PackedByteArray()
var _outbox := PackedByteArray()
var _early: Array[PackedByteArray] = []
var _last_id := 0
var _hello_id := -1
# msgid -> {"method": String, "callback": Callable, "reply": Dictionary or null}
var _pending := {}
# handle -> {"handle": int, "npc": String, "stream": int (-1 until answered), "cancel": bool}
var _replies := {}
# server stream id -> reply
var _by_stream := {}
# The error of the last request that could not be sent.
var _refusal := {}


func _ready() -> void:
	# Dialogue menus often pause the game: keep the connection served.
	process_mode = Node.PROCESS_MODE_ALWAYS


func _exit_tree() -> void:
	# The game is quitting (or the node was removed): hang up now, so the server cancels
	# this client's replies at once.
	_close("the NpcAi node left the scene tree")


## Connect to npc-ai serve. With port 0 the port and token come from the discovery file
## (discovery_path, or the default path). Returns OK or an error; the outcome comes as
## connected or connect_failed.
func connect_to_server(port := 0, token := "", discovery_path := "") -> Error:
	if _state != State.IDLE:
		return ERR_ALREADY_IN_USE
	if port == 0:
		var found := read_discovery(discovery_path)
		if found.has("error"):
			connect_failed.emit.call_deferred(_error(INPUT_ERROR, "InputError", found.error))
			return ERR_FILE_NOT_FOUND
		port = found.port
		token = found.token
	_token = token
	_peer = StreamPeerTCP.new()
	var err := _peer.connect_to_host(HOST, port)
	if err != OK:
		_peer = null
		var message := "cannot connect to %s:%d (error %d)" % [HOST, port, err]
		connect_failed.emit.call_deferred(_error(CONNECTION_DEAD, "ConnectionDeadError", message))
		return err
	_state = State.CONNECTING
	_deadline = Time.get_ticks_msec() + int(connect_timeout * 1000)
	return OK


## Close the connection (the server cancels this client's replies and removes its NPCs).
func disconnect_from_server() -> void:
	_close("closed by the client")


## True once the handshake is done and until the connection ends.
func is_ready() -> bool:
	return _state == State.READY


## The hello result {server, protocol, minor, limits} of the current connection.
func server_info() -> Dictionary:
	return _server


## The server's minor protocol version: 1 for a 1.1 server, 0 for a 1.0 one (which sends no
## minor). The 1.1 calls need 1 or more.
func server_minor() -> int:
	return int(_server.get("minor", 0))


## The discovery file's {host, port, token, pid, protocol, minor}, or {"error": why}.
static func read_discovery(path := "") -> Dictionary:
	if path == "":
		path = default_discovery_path()
	if not FileAccess.file_exists(path):
		return {"error": "no discovery file at %s: is `npc-ai serve` running?" % path}
	var data: Variant = JSON.parse_string(FileAccess.get_file_as_string(path))
	if typeof(data) != TYPE_DICTIONARY or not data.has("port") or not data.has("token"):
		return {"error": "the discovery file %s is not valid: it needs port and token" % path}
	data.port = int(data.port)  # JSON numbers are floats in Godot
	return data


## $XDG_RUNTIME_DIR/npc-ai/bridge.json when set; else %LOCALAPPDATA%\npc-ai\bridge.json on
## Windows, <temp dir>/npc-ai-<uid>/bridge.json elsewhere (as the server writes it).
static func default_discovery_path() -> String:
	var xdg := OS.get_environment("XDG_RUNTIME_DIR")
	if xdg != "":
		return xdg.path_join("npc-ai").path_join("bridge.json")
	if OS.get_name() == "Windows":
		return OS.get_environment("LOCALAPPDATA").path_join("npc-ai").path_join("bridge.json")
	var tmp := OS.get_environment("TMPDIR")
	for key in ["TEMP", "TMP"]:
		if tmp == "":
			tmp = OS.get_environment(key)
	if tmp == "":
		tmp = "/tmp"
	var output := []
	OS.execute("id", ["-u"], output)  # Godot has no getuid(); runs once per connect
	var uid: String = output[0].strip_edges() if output.size() > 0 else ""
	return tmp.path_join("npc-ai-%s" % uid).path_join("bridge.json")


# -- requests -------------------------------------------------------------------------------


## Send a request; returns its id (-1 when it could not be sent: the callback has the error).
func request(method: String, params := {}, callback := Callable()) -> int:
	return _send_request(method, params, callback, null)


## Send a notification (no answer; a failure comes back as server_error).
func notify(method: String, params := {}) -> Error:
	var encoded := MsgPack.encode([2, method, [params] if not params.is_empty() else []])
	if encoded.error != "":
		push_error("npc-ai: %s: %s" % [method, encoded.error])
		return ERR_INVALID_PARAMETER
	return _queue(MsgPack.frame(encoded.bytes))


## rpc.describe: callback(result {protocol, server, methods}, error).
func describe(callback: Callable) -> int:
	return request("rpc.describe", {}, callback)


## rpc.ping: the server sends echo back (for round-trip timing).
func ping(echo: Variant = null, callback := Callable()) -> int:
	return request("rpc.ping", {"echo": echo}, callback)


## npc.load from a persona: TOML text or a Dictionary of its fields. priority: "focused",
## "nearby" (default) or "background". callback(result {id, name}, error). options (protocol
## 1.1, see LOAD_OPTIONS): {"structured": true} for replies with an emotion and an action
## (npc_acted); {"language": "es"} for the player's language (the server translates both
## ways; 2011 without a translator); {"memory": false} for an NPC that keeps nothing in the
## server's memory store.
func load_npc(
	persona: Variant, id := "", priority := "", callback := Callable(), options := {}
) -> int:
	return _load("persona", persona, id, priority, callback, options)


## npc.load from a .toml file in one of the server's persona folders (options: as load_npc).
func load_npc_file(
	file: String, id := "", priority := "", callback := Callable(), options := {}
) -> int:
	return _load("file", file, id, priority, callback, options)


## npc.unload: remove an NPC; its reply in progress is cancelled.
func unload_npc(id: String, callback := Callable()) -> int:
	return request("npc.unload", {"id": id}, callback)


## npc.priority: "focused", "nearby" or "background".
func set_priority(id: String, priority: String, callback := Callable()) -> int:
	return request("npc.priority", {"id": id, "priority": priority}, callback)


## npc.say: the player says text to an NPC. Returns the reply's handle (see the top of this
## file), or -1 when not connected (npc_error follows with that -1). Protocol 1.1: heard_by
## lists ids of this client's NPCs within earshot (each remembers the line and the reply as
## overheard); priority ("focused", "nearby", "background") is set before the line is queued
## and stays, as set_priority does.
func say(
	npc: String,
	text: String,
	rng_seed := -1,
	heard_by := PackedStringArray(),
	priority := "",
) -> int:
	var params := {"npc": npc, "text": text}
	if rng_seed >= 0:
		params.seed = rng_seed
	if not heard_by.is_empty():
		params.heard_by = heard_by
	if priority != "":
		params.priority = priority
	var reply := {"handle": -1, "npc": npc, "stream": -1, "cancel": false}
	var handle := _send_request("npc.say", params, Callable(), reply)
	if handle < 0:
		npc_error.emit.call_deferred(-1, _refusal, npc)
	return handle


## npc.cancel: stop a reply within one model step; it still ends with one npc_done
## ("cancelled"). A cancel before npc.say is answered is sent once it is.
func cancel(stream: int) -> void:
	if not _replies.has(stream):
		return
	var reply: Dictionary = _replies[stream]
	if reply.stream < 0:
		reply.cancel = true
	else:
		request("npc.cancel", {"stream": reply.stream})


## npc.export: a save blob of the NPCs' memory (all of this client's NPCs when ids is
## empty): callback(result {blob: PackedByteArray}, error).
func export_memory(callback: Callable, ids := PackedStringArray()) -> int:
	var params := {}
	if not ids.is_empty():
		params.ids = ids
	return request("npc.export", params, callback)


## npc.import: restore a save blob (its NPCs must be loaded): callback(result {ids}, error).
func import_memory(blob: PackedByteArray, callback := Callable()) -> int:
	return request("npc.import", {"blob": blob}, callback)


## npc.prepare (1.1): read the NPC's persona into the model's cache now, so its first reply
## starts sooner (for a loading screen). callback(result {}, error) once the reading is done,
## from milliseconds to a few seconds later; other calls are answered meanwhile.
func prepare_npc(id: String, callback := Callable()) -> int:
	return request("npc.prepare", {"id": id}, callback)


## npc.facts (1.1): what the NPC knows about the player and what the game taught it:
## callback(result {facts: [{kind, text, turn}]}, error), the newest fact of each kind, oldest
## first. Needs the server's memory store (2011 without one).
func get_facts(id: String, callback: Callable) -> int:
	return request("npc.facts", {"id": id}, callback)


## npc.teach (1.1): the NPC knows text from now on; a newer fact of the same kind (e.g.
## "quest.ore") replaces the older one. text is in the persona's language.
func teach(id: String, text: String, kind: String, callback := Callable()) -> int:
	return request("npc.teach", {"id": id, "text": text, "kind": kind}, callback)


## npc.relationship (1.1): how the NPC feels about the player, -1 (hostile) to 1 (friendly):
## callback(result {relationship: float}, error).
func get_relationship(id: String, callback: Callable) -> int:
	return request("npc.relationship", {"id": id}, callback)


## npc.relationship with adjust (1.1): move it by `by` (-2 to 2; a quest done: 0.3, a theft
## seen: -0.5), clamped to -1..1: callback(result {relationship: float}, error), the new value.
func adjust_relationship(id: String, by: float, callback := Callable()) -> int:
	return request("npc.relationship", {"id": id, "adjust": by}, callback)


## translate.text between ISO 639-1 codes: callback(result {text}, error).
func translate(text: String, source: String, target: String, callback: Callable) -> int:
	return request("translate.text", {"text": text, "source": source, "target": target}, callback)


## subtitle.start: live captions of audio pushed with subtitle_push. language: the spoken
## language ("" detects it); translate: languages for translations of finals. subtitle_started
## follows (and callback(result {session, sample_rate}, error)).
func subtitle_start(
	language := "", translate_to := PackedStringArray(), callback := Callable()
) -> int:
	var params := {}
	if language != "":
		params.language = language
	if not translate_to.is_empty():
		params.translate = translate_to
	return request("subtitle.start", params, callback)


## subtitle.push, as a notification: 16 kHz mono signed 16-bit little-endian PCM, a whole
## number of samples (see pcm16_from_frames).
func subtitle_push(session: int, pcm: PackedByteArray) -> Error:
	if pcm.size() % 2 != 0:
		push_error("npc-ai: subtitle_push needs whole 16-bit samples, got %d bytes" % pcm.size())
		return ERR_INVALID_PARAMETER
	return notify("subtitle.push", {"session": session, "pcm": pcm})


## subtitle.stop: the callback runs once the session's last captions have been sent.
func subtitle_stop(session: int, callback := Callable()) -> int:
	return request("subtitle.stop", {"session": session}, callback)


## PCM for subtitle_push from stereo frames (AudioEffectCapture.get_buffer) at mix_rate:
## mixed to mono and resampled to 16 kHz by linear interpolation.
static func pcm16_from_frames(frames: PackedVector2Array, mix_rate: float) -> PackedByteArray:
	var pcm := PackedByteArray()
	if frames.is_empty() or mix_rate <= 0.0:
		return pcm
	var step := mix_rate / 16000.0
	var count := int(frames.size() / step)
	pcm.resize(count * 2)
	for i in count:
		var at := i * step
		var j := int(at)
		var a := frames[j]
		var b := frames[mini(j + 1, frames.size() - 1)]
		var f := at - j
		var mono := ((a.x + a.y) * (1.0 - f) + (b.x + b.y) * f) * 0.5
		pcm.encode_s16(i * 2, roundi(clampf(mono, -1.0, 1.0) * 32767.0))
	return pcm


# -- the connection -------------------------------------------------------------------------


func _process(_delta: float) -> void:
	if _peer == null:
		return
	_peer.poll()
	var status := _peer.get_status()
	if _state == State.CONNECTING:
		if status == StreamPeerTCP.STATUS_CONNECTED:
			_peer.set_no_delay(true)
			_state = State.HELLO
			var hello := {"protocol": PROTOCOL, "token": _token, "client": client_name}
			_hello_id = _send_request("rpc.hello", hello, Callable(), null)
		elif status == StreamPeerTCP.STATUS_ERROR or status == StreamPeerTCP.STATUS_NONE:
			_close("cannot connect to npc-ai serve on %s" % HOST)
			return
	elif status != StreamPeerTCP.STATUS_CONNECTED:
		_close("the server closed the connection")
		return
	if _state != State.READY and Time.get_ticks_msec() > _deadline:
		_close("no connection and handshake within %.1f s" % connect_timeout)
		return
	_flush()
	_receive()


func _flush() -> void:
	if _outbox.is_empty() or _peer == null:
		return
	var sent: Array = _peer.put_partial_data(_outbox)
	if sent[0] != OK:
		_close("cannot send to the server (error %d)" % sent[0])
	elif sent[1] > 0:
		_outbox = _outbox.slice(sent[1])


func _receive() -> void:
	if _peer == null:
		return
	var available := mini(_peer.get_available_bytes(), max_read_per_frame)
	if available > 0:
		var got: Array = _peer.get_partial_data(available)
		if got[0] != OK:
			_close("cannot read from the server (error %d)" % got[0])
			return
		_inbox.append_array(got[1])
	var handled := 0
	while handled < max_messages_per_frame and _peer != null and _inbox.size() >= 4:
		var n := _inbox.decode_u32(0)  # decode_u32 reads little-endian, as the framing is
		if n > max_frame:
			_close("a frame announces %d bytes, over the limit of %d" % [n, max_frame])
			return
		if _inbox.size() < 4 + n:
			break
		var payload := _inbox.slice(4, 4 + n)
		_inbox = _inbox.slice(4 + n)
		_handle(payload)
		handled += 1


func _handle(payload: PackedByteArray) -> void:
	var decoded := MsgPack.decode(payload)
	var message: Variant = decoded.value
	if decoded.error != "" or typeof(message) != TYPE_ARRAY or message.is_empty():
		var why: String = decoded.error if decoded.error != "" else "not a message array"
		server_error.emit(_error(MALFORMED, "MalformedMessageError", "bad message: " + why))
		return
	var kind: Variant = message[0]
	if kind is int and kind == 1 and message.size() == 4:
		_on_response(message[1], message[2], message[3])
	elif kind is int and kind == 2 and message.size() == 3 and message[1] is String:
		var params: Dictionary = {}
		if message[2] is Array and message[2].size() == 1 and message[2][0] is Dictionary:
			params = message[2][0]
		_on_notification(message[1], params)
	else:
		push_warning("npc-ai: the server sent a message a client does not take: %s" % [message])


func _on_response(msgid: Variant, error: Variant, result: Variant) -> void:
	var err: Dictionary = error if error is Dictionary else {}
	if msgid == null:
		server_error.emit(err)
		return
	if not _pending.has(msgid):
		push_warning("npc-ai: a response to msgid %s, which is not in flight" % msgid)
		return
	var pending: Dictionary = _pending[msgid]
	_pending.erase(msgid)
	if pending.v11 and server_minor() < 1:
		err = _too_old(err, pending.method)
	if msgid == _hello_id:
		_hello_answered(result, err)
	elif pending.reply != null:
		_say_answered(pending.reply, result, err)
	elif pending.method == "subtitle.start" and err.is_empty() and result is Dictionary:
		subtitle_started.emit(int(result.get("session", 0)), int(result.get("sample_rate", 0)))
	if pending.callback.is_valid():
		pending.callback.call(result, err)
	response.emit(msgid, result, err)


func _hello_answered(result: Variant, err: Dictionary) -> void:
	if not err.is_empty():
		_close(err.get("message", "the hello was refused"), err)
		return
	_server = result if result is Dictionary else {}
	_state = State.READY
	for framed in _early:
		_outbox.append_array(framed)
	_early.clear()
	connected.emit(_server)


func _say_answered(reply: Dictionary, result: Variant, err: Dictionary) -> void:
	if err.is_empty() and not (result is Dictionary and result.has("stream")):
		err = _error(2003, "BadMessageError", "npc.say answered without a stream id")
	if not err.is_empty():
		_replies.erase(reply.handle)
		npc_error.emit(reply.handle, err, reply.npc)
		return
	reply.stream = int(result.stream)
	_by_stream[reply.stream] = reply
	if reply.cancel:
		request("npc.cancel", {"stream": reply.stream})


func _on_notification(method: String, p: Dictionary) -> void:
	notification_received.emit(method, p)
	match method:
		"npc.delta":
			npc_delta.emit(_handle_of(p, false), p.get("text", ""))
		"npc.done":
			var handle := _handle_of(p, true)
			if p.has("emotion"):
				var args: Variant = p.get("args", {})
				npc_acted.emit(
					handle,
					p.get("npc", ""),
					p.get("emotion", ""),
					p.get("action", "none"),
					args if args is Dictionary else {}
				)
			npc_done.emit(handle, p.get("text", ""), p.get("npc", ""), p.get("finish_reason", ""))
		"npc.error":
			npc_error.emit(_handle_of(p, true), p.get("error", {}), p.get("npc", ""))
		"subtitle.partial":
			subtitle_partial.emit(p)
		"subtitle.final":
			subtitle_final.emit(p)
		"subtitle.translation":
			subtitle_translation.emit(p)
		"subtitle.error":
			subtitle_error.emit(p.get("session", 0), p.get("error", {}), p.get("fatal", false))


## The handle of the reply a notification belongs to (its last one drops the mapping).
func _handle_of(p: Dictionary, last: bool) -> int:
	var stream: int = p.get("stream", 0)
	if not _by_stream.has(stream):
		return -stream  # not a reply of ours: negative, so it never looks like one
	var reply: Dictionary = _by_stream[stream]
	if last:
		_by_stream.erase(stream)
		_replies.erase(reply.handle)
	return reply.handle


func _send_request(method: String, params: Dictionary, callback: Callable, reply: Variant) -> int:
	if _state == State.IDLE:
		return _refuse(callback, _error(CONNECTION_DEAD, "ConnectionDeadError", "not connected"))
	_last_id = 1 if _last_id >= MAX_MSGID else _last_id + 1
	while _pending.has(_last_id) or _replies.has(_last_id):
		_last_id = 1 if _last_id >= MAX_MSGID else _last_id + 1
	var msgid := _last_id
	var encoded := MsgPack.encode([0, msgid, method, [params] if not params.is_empty() else []])
	if encoded.error != "":
		push_error("npc-ai: %s: %s" % [method, encoded.error])
		return _refuse(callback, _error(2005, "BadParamsError", encoded.error))
	var framed := MsgPack.frame(encoded.bytes)
	if _outbox.size() + framed.size() > max_outbox:
		return _refuse(callback, _busy())
	var v11 := _uses_11(method, params)
	_pending[msgid] = {"method": method, "callback": callback, "reply": reply, "v11": v11}
	if reply != null:
		reply.handle = msgid
		_replies[msgid] = reply
	if _state == State.READY or method == "rpc.hello":
		_outbox.append_array(framed)
	else:
		_early.append(framed)  # sent once the hello is answered
	return msgid


## A request that could not be sent: its callback gets the error; say() reads _refusal.
func _refuse(callback: Callable, error: Dictionary) -> int:
	_refusal = error
	if callback.is_valid():
		callback.call_deferred(null, error)
	return -1


func _busy() -> Dictionary:
	var message := (
		"%d bytes wait to be sent (limit %d): the server is not reading"
		% [_outbox.size(), max_outbox]
	)
	return _error(2009, "TooBusyError", message)


func _queue(framed: PackedByteArray) -> Error:
	if _state == State.IDLE:
		return ERR_CONNECTION_ERROR
	if _outbox.size() + framed.size() > max_outbox:
		push_warning("npc-ai: " + _busy().message)
		return ERR_BUSY
	if _state == State.READY:
		_outbox.append_array(framed)
	else:
		_early.append(framed)
	return OK


func _close(reason: String, error := {}) -> void:
	if _state == State.IDLE:
		return
	var was_ready := _state == State.READY
	if _peer != null:
		_peer.disconnect_from_host()
	_peer = null
	_state = State.IDLE
	_inbox = PackedByteArray()
	_outbox = PackedByteArray()
	_early.clear()
	var pending := _pending
	var replies := _replies
	_pending = {}
	_replies = {}
	_by_stream = {}
	var dead := _error(
		CONNECTION_DEAD, "ConnectionDeadError", "the connection is closed: " + reason
	)
	for msgid in pending:
		var callback: Callable = pending[msgid].callback
		if callback.is_valid() and msgid != _hello_id:
			callback.call(null, dead)
	for handle in replies:
		npc_error.emit(handle, dead, replies[handle].npc)
	if was_ready:
		disconnected.emit(reason)
	else:
		connect_failed.emit(error if not error.is_empty() else dead)


func _load(
	key: String,
	value: Variant,
	id: String,
	priority: String,
	callback: Callable,
	options: Dictionary
) -> int:
	var params := {}
	if id != "":
		params.id = id
	params[key] = value
	if priority != "":
		params.priority = priority
	for option in options:
		var wrong := ""
		if not LOAD_OPTIONS.has(option):
			wrong = "%s is not a load option (they are: structured, language, memory)" % [option]
		elif typeof(options[option]) != LOAD_OPTIONS[option]:
			wrong = "the load option %s must be a %s" % [option, type_string(LOAD_OPTIONS[option])]
		if wrong != "":
			push_error("npc-ai: " + wrong)
			return _refuse(callback, _error(BAD_PARAMS, "BadParamsError", wrong))
		params[option] = options[option]
	return request("npc.load", params, callback)


## Whether a request uses what protocol 1.1 added (a 1.0 server refuses it).
static func _uses_11(method: String, params: Dictionary) -> bool:
	if METHODS_11.has(method):
		return true
	for param in PARAMS_11.get(method, []):
		if params.has(param):
			return true
	return false


## A 1.0 server's 2004 (no such method) or 2005 (no such parameter) for a 1.1 call, said as
## what it is: the server is too old. Other errors are left as they are.
func _too_old(err: Dictionary, method: String) -> Dictionary:
	var code: Variant = err.get("code", 0)
	if not (code is int and (code == UNKNOWN_METHOD or code == BAD_PARAMS)):
		return err
	var told := err.duplicate()
	told.message = (
		"%s uses protocol 1.1, and this server speaks 1.%d: update npc-ai (the server said: %s)"
		% [method, server_minor(), err.get("message", "")]
	)
	return told


static func _error(code: int, error_name: String, message: String) -> Dictionary:
	return {"code": code, "name": error_name, "message": message, "data": {}}
