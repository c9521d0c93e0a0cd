## Example: talk to the blacksmith. Attach to a VBoxContainer in a scene, enable the npc-ai
## plug-in (Project Settings > Plugins), start `npc-ai serve --personas sample_game/personas`,
## and run the scene. The reply streams into the log as it is generated.
extends VBoxContainer

const NPC := "smith"

var _log := RichTextLabel.new()
var _input := LineEdit.new()
var _line := -1  # handle of the reply being shown


func _ready() -> void:
	_log.size_flags_vertical = Control.SIZE_EXPAND_FILL
	_log.scroll_following = true
	_input.placeholder_text = "Say something to the blacksmith, then press Enter"
	_input.editable = false
	add_child(_log)
	add_child(_input)
	_input.text_submitted.connect(_on_text_submitted)
	NpcAi.connected.connect(_on_connected)
	NpcAi.connect_failed.connect(func(error): _show("[cannot connect: %s]" % error.message))
	NpcAi.disconnected.connect(func(reason): _show("[disconnected: %s]" % reason))
	NpcAi.npc_delta.connect(_on_npc_delta)
	NpcAi.npc_done.connect(_on_npc_done)
	NpcAi.npc_error.connect(_on_npc_error)
	NpcAi.connect_to_server()  # port 0: read the discovery file


func _on_connected(server: Dictionary) -> void:
	_show("[connected to %s]" % server.get("server", "npc-ai"))
	NpcAi.load_npc_file("blacksmith.toml", NPC, "focused", _on_loaded)


func _on_loaded(result: Variant, error: Dictionary) -> void:
	if not error.is_empty():
		_show("[cannot load the blacksmith: %s]" % error.message)
		return
	_show("[%s is here]" % result.name)
	_input.editable = true
	_input.grab_focus()


func _on_text_submitted(text: String) -> void:
	if text.strip_edges() == "":
		return
	_input.clear()
	if _line >= 0:
		NpcAi.cancel(_line)  # the player spoke again: drop the old reply
	_show("You: " + text)
	_log.append_text("Brom:")
	_line = NpcAi.say(NPC, text)


func _on_npc_delta(stream: int, text: String) -> void:
	if stream == _line:
		_log.append_text(text)


func _on_npc_done(stream: int, _text: String, _npc: String, finish_reason: String) -> void:
	if stream == _line:
		_show("" if finish_reason != "cancelled" else " [cut off]")
		_line = -1


func _on_npc_error(stream: int, error: Dictionary, _npc: String) -> void:
	if stream == _line:
		_show(" [error %d: %s]" % [error.code, error.message])
		_line = -1


func _show(text: String) -> void:
	_log.append_text(text + "\n")
