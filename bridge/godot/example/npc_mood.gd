## Example: structured replies and overhearing (protocol 1.1). Open bridge/godot as a project
## in Godot 4 (or copy addons/ and example/ into yours and enable the npc-ai plug-in), start
## `npc-ai serve --personas sample_game/personas`, and run example/npc_mood.tscn.
##
## Talk to the blacksmith or, with the switch on, to the guard. The one you address answers
## with a line, an emotion (shown in the label) and an action (added to the list); the other
## stands within earshot and remembers what it overheard: switch and ask it about it.
extends VBoxContainer

## NPC id -> persona file in the server's persona folders.
const NPCS := {"smith": "blacksmith.toml", "guard": "guard.toml"}

var _names := {}  # NPC id -> the persona's name
var _line := -1  # handle of the reply being shown

@onready var _emotion: Label = $Header/Emotion
@onready var _to_guard: CheckButton = $Header/ToGuard
@onready var _chat: RichTextLabel = $Chat
@onready var _actions: ItemList = $Actions
@onready var _input: LineEdit = $Input


func _ready() -> void:
	_input.text_submitted.connect(_on_text_submitted)
	NpcAi.connected.connect(_on_connected)
	NpcAi.connect_failed.connect(func(error): _show("[cannot connect: %s]" % error.message))
	NpcAi.disconnected.connect(func(reason): _show("[disconnected: %s]" % reason))
	NpcAi.npc_delta.connect(_on_npc_delta)
	NpcAi.npc_acted.connect(_on_npc_acted)
	NpcAi.npc_done.connect(_on_npc_done)
	NpcAi.npc_error.connect(_on_npc_error)
	NpcAi.connect_to_server()  # port 0: read the discovery file


func _on_connected(server: Dictionary) -> void:
	if NpcAi.server_minor() < 1:
		_show("[%s speaks protocol 1.0; this example needs 1.1]" % server.get("server", "npc-ai"))
		return
	for id in NPCS:
		NpcAi.load_npc_file(NPCS[id], id, "nearby", _on_loaded, {"structured": true})


func _on_loaded(result: Variant, error: Dictionary) -> void:
	if not error.is_empty():
		_show("[cannot load: %s]" % error.message)
		return
	_names[result.id] = result.name
	NpcAi.prepare_npc(result.id)  # read its persona now, so its first reply starts sooner
	if _names.size() == NPCS.size():
		_show("[%s are here]" % " and ".join(PackedStringArray(_names.values())))
		_input.editable = true
		_input.grab_focus()


func _on_text_submitted(text: String) -> void:
	if text.strip_edges() == "" or _line >= 0:
		return
	_input.clear()
	var speaker := "guard" if _to_guard.button_pressed else "smith"
	var earshot := PackedStringArray()
	for id in NPCS:
		if id != speaker:
			earshot.append(id)  # hears the exchange and remembers it as overheard
			NpcAi.set_priority(id, "nearby")  # a priority stays until changed
	_show("You: " + text)
	_chat.append_text(_names[speaker] + ":")
	_line = NpcAi.say(speaker, text, -1, earshot, "focused")


func _on_npc_delta(stream: int, text: String) -> void:
	if stream == _line:
		_chat.append_text(text)


func _on_npc_acted(
	stream: int, npc: String, emotion: String, action: String, args: Dictionary
) -> void:
	if stream != _line:
		return
	var who: String = _names.get(npc, npc)
	_emotion.text = "%s feels %s" % [who, emotion]
	if action != "none":
		_actions.add_item("%s: %s" % [who, action_text(action, args)])


func _on_npc_done(stream: int, _text: String, _npc: String, finish_reason: String) -> void:
	if stream == _line:
		_show("" if finish_reason != "cancelled" else " [cut off]")
		_line = -1


func _on_npc_error(stream: int, error: Dictionary, _npc: String) -> void:
	if stream == _line:
		_show(" [error %d: %s]" % [error.code, error.message])
		_line = -1


## An action and its arguments for the log: "repair (item: sword)", "turn away".
static func action_text(action: String, args: Dictionary) -> String:
	var parts := PackedStringArray()
	for key in args:
		parts.append("%s: %s" % [key, args[key]])
	var named := action.replace("_", " ")
	return named if parts.is_empty() else "%s (%s)" % [named, ", ".join(parts)]


func _show(text: String) -> void:
	_chat.append_text(text + "\n")
