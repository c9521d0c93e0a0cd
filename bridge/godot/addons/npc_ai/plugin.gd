## Enables the npc-ai bridge: registers npc_ai.gd as the autoload "NpcAi".
@tool
extends EditorPlugin

const AUTOLOAD := "NpcAi"


func _enable_plugin() -> void:
	add_autoload_singleton(
		AUTOLOAD, get_script().resource_path.get_base_dir().path_join("npc_ai.gd")
	)


func _disable_plugin() -> void:
	remove_autoload_singleton(AUTOLOAD)
