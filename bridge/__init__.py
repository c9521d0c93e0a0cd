"""The msgpack bridge between npc-ai and engines in other languages (Godot, Unity).

The wire protocol is MessagePack-RPC in length-prefixed frames; the codec and
connection state do no I/O, and only the server module touches sockets.
"""
