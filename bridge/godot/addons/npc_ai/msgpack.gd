## MessagePack codec and framing for the npc-ai bridge (docs/PROTOCOL.md, section 1).
##
## Values map to Godot types as follows:
##   nil -> null      bool -> bool       int (every width) -> int      float32/64 -> float
##   str -> String    bin -> PackedByteArray    array -> Array    map -> Dictionary
## Encoding also takes StringName (as str) and the packed arrays of strings, ints and floats (as
## arrays). Godot floats are 64-bit, so floats are always encoded as float64 (the protocol
## accepts both). The encoder writes the smallest encoding of each value, as the golden vectors
## do; the decoder accepts every width. Nothing here raises: encode() and decode() return a
## Dictionary with an "error" String, empty on success.
##
## decode() is bounded: every length is checked against the bytes that remain before anything
## is read or allocated, nesting is limited, and truncated input, trailing bytes, the unused
## tag 0xc1, invalid UTF-8, non-string map keys and uint64 values beyond the signed 64-bit range
## are errors. Ext and fixext values are not used by the protocol: the decoder reads past their
## bytes (bounded) and reports them as an error naming the ext type.
extends RefCounted

const MAX_DEPTH := 128
const INT64_MIN := -9223372036854775807 - 1

# [largest value, tag, bytes] of the wider encodings, in order (docs/PROTOCOL.md; msgpack spec).
const UINT_FORMS := [[0xff, 0xcc, 1], [0xffff, 0xcd, 2], [0xffffffff, 0xce, 4]]
const UINT64_FORM := [0xcf, 8]
# [smallest value, tag, bytes] of negative integers below the negative fixint range.
const INT_FORMS := [[-128, 0xd0, 1], [-32768, 0xd1, 2], [-2147483648, 0xd2, 4]]
const INT64_FORM := [0xd3, 8]
const FLOAT64_FORM := [0xcb, 8]
# Headers: [fix base, fix max or -1, [[largest length, tag, bytes], ...]].
const STR_HEADER := [0xa0, 31, [[0xff, 0xd9, 1], [0xffff, 0xda, 2], [0xffffffff, 0xdb, 4]]]
const BIN_HEADER := [0, -1, [[0xff, 0xc4, 1], [0xffff, 0xc5, 2], [0xffffffff, 0xc6, 4]]]
const ARRAY_HEADER := [0x90, 15, [[0xffff, 0xdc, 2], [0xffffffff, 0xdd, 4]]]
const MAP_HEADER := [0x80, 15, [[0xffff, 0xde, 2], [0xffffffff, 0xdf, 4]]]


## Reads one value from bytes, remembering the first error.
class Reader:
	var data: PackedByteArray
	var pos := 0
	var error := ""

	func _init(bytes: PackedByteArray) -> void:
		data = bytes

	func fail(message: String) -> void:
		if error == "":
			error = message

	## True when n more bytes are there (records the error otherwise).
	func need(n: int) -> bool:
		if error != "":
			return false
		if n > data.size() - pos:
			fail("truncated: %d bytes needed at offset %d, %d left" % [n, pos, data.size() - pos])
			return false
		return true

	func read_byte() -> int:
		if not need(1):
			return 0
		pos += 1
		return data[pos - 1]

	## A big-endian integer of n bytes (1, 2, 4 or 8), signed or not.
	func read_int(n: int, signed: bool) -> int:
		if not need(n):
			return 0
		var first: int = data[pos]
		# The top bit is added back last, so no shift ever overflows 64 bits.
		var v: int = first & 0x7f
		for i in range(1, n):
			v = (v << 8) | data[pos + i]
		pos += n
		if first >= 0x80:
			if not signed and n == 8:
				fail("uint64 at offset %d is beyond the signed 64-bit range" % (pos - n))
				v = 0
			elif not signed:
				v += 1 << (8 * n - 1)
			elif n == 8:
				v += INT64_MIN
			else:
				v -= 1 << (8 * n - 1)
		return v

	## An unsigned length field of n bytes, checked against the bytes left.
	func read_length(n: int) -> int:
		var length := read_int(n, false)
		if error == "" and not need(length):
			return 0
		return length

	func read_bytes(n: int) -> PackedByteArray:
		if not need(n):
			return PackedByteArray()
		pos += n
		return data.slice(pos - n, pos)

	func read_float(n: int) -> float:
		if not need(n):
			return 0.0
		# PackedByteArray.decode_* read little-endian; MessagePack is big-endian.
		var le := data.slice(pos, pos + n)
		le.reverse()
		pos += n
		return le.decode_float(0) if n == 4 else le.decode_double(0)

	func read_string(n: int) -> String:
		var raw := read_bytes(n)
		var text := raw.get_string_from_utf8()
		if error == "" and text.to_utf8_buffer() != raw:
			fail("a string at offset %d is not valid UTF-8" % (pos - n))
		return text

	## Ext and fixext: read past the value, then refuse it.
	func skip_ext(at: int, size: int) -> void:
		var ext_type := read_int(1, true)
		if need(size):
			pos += size
			fail("ext type %d at offset %d: the protocol uses no ext types" % [ext_type, at])


# -- decode ---------------------------------------------------------------------------------


## {"value": the one value in data, "error": ""}, or {"value": null, "error": why not}.
static func decode(data: PackedByteArray) -> Dictionary:
	var r := Reader.new(data)
	if data.is_empty():
		r.fail("no bytes: expected one value")
	var value: Variant = _read(r, 0)
	if r.error == "" and r.pos != data.size():
		r.fail("%d trailing bytes after the value" % (data.size() - r.pos))
	if r.error != "":
		return {"value": null, "error": r.error}
	return {"value": value, "error": ""}


static func _read(r: Reader, depth: int) -> Variant:
	if depth > MAX_DEPTH:
		r.fail("value nested deeper than %d levels" % MAX_DEPTH)
	var at := r.pos
	var tag := r.read_byte()
	if r.error != "":
		return null
	var value: Variant = null
	if tag <= 0x7f:
		value = tag
	elif tag >= 0xe0:
		value = tag - 0x100
	elif tag >= 0xa0 and tag <= 0xbf:
		value = r.read_string(tag & 0x1f)
	elif tag >= 0x90 and tag <= 0x9f:
		value = _read_array(r, tag & 0x0f, depth)
	elif tag >= 0x80 and tag <= 0x8f:
		value = _read_map(r, tag & 0x0f, depth)
	else:
		value = _read_tagged(r, tag, at, depth)
	return value


static func _read_tagged(r: Reader, tag: int, at: int, depth: int) -> Variant:
	var value: Variant = null
	match tag:
		0xc0:
			value = null
		0xc2:
			value = false
		0xc3:
			value = true
		0xc4:
			value = r.read_bytes(r.read_length(1))
		0xc5:
			value = r.read_bytes(r.read_length(2))
		0xc6:
			value = r.read_bytes(r.read_length(4))
		0xca:
			value = r.read_float(4)
		0xcb:
			value = r.read_float(8)
		0xcc:
			value = r.read_int(1, false)
		0xcd:
			value = r.read_int(2, false)
		0xce:
			value = r.read_int(4, false)
		0xcf:
			value = r.read_int(8, false)
		0xd0:
			value = r.read_int(1, true)
		0xd1:
			value = r.read_int(2, true)
		0xd2:
			value = r.read_int(4, true)
		0xd3:
			value = r.read_int(8, true)
		0xd9:
			value = r.read_string(r.read_length(1))
		0xda:
			value = r.read_string(r.read_length(2))
		0xdb:
			value = r.read_string(r.read_length(4))
		0xdc:
			value = _read_array(r, r.read_length(2), depth)
		0xdd:
			value = _read_array(r, r.read_length(4), depth)
		0xde:
			value = _read_map(r, r.read_length(2), depth)
		0xdf:
			value = _read_map(r, r.read_length(4), depth)
		0xd4:
			r.skip_ext(at, 1)
		0xd5:
			r.skip_ext(at, 2)
		0xd6:
			r.skip_ext(at, 4)
		0xd7:
			r.skip_ext(at, 8)
		0xd8:
			r.skip_ext(at, 16)
		0xc7:
			r.skip_ext(at, r.read_length(1))
		0xc8:
			r.skip_ext(at, r.read_length(2))
		0xc9:
			r.skip_ext(at, r.read_length(4))
		_:
			r.fail("byte 0x%02x at offset %d is not a MessagePack type" % [tag, at])
	return value


static func _read_array(r: Reader, count: int, depth: int) -> Array:
	var items := []
	# Every element takes at least one byte: a count over the bytes left is a lie.
	if not r.need(count):
		return items
	for i in count:
		items.append(_read(r, depth + 1))
		if r.error != "":
			break
	return items


static func _read_map(r: Reader, count: int, depth: int) -> Dictionary:
	var map := {}
	if not r.need(count):
		return map
	for i in count:
		var at := r.pos
		var key: Variant = _read(r, depth + 1)
		if r.error == "" and typeof(key) != TYPE_STRING:
			r.fail("map key at offset %d is not a string" % at)
		var value: Variant = _read(r, depth + 1)
		if r.error != "":
			break
		map[key] = value
	return map


# -- encode ---------------------------------------------------------------------------------


## {"bytes": the MessagePack bytes of value, "error": ""}, or an error naming what cannot be
## encoded (objects, vectors and other engine types; non-string map keys).
static func encode(value: Variant) -> Dictionary:
	var out := PackedByteArray()
	var error := _write(out, value, 0)
	if error != "":
		return {"bytes": PackedByteArray(), "error": error}
	return {"bytes": out, "error": ""}


static func _write(out: PackedByteArray, value: Variant, depth: int) -> String:
	if depth > MAX_DEPTH:
		return "value nested deeper than %d levels" % MAX_DEPTH
	var error := ""
	match typeof(value):
		TYPE_NIL:
			out.append(0xc0)
		TYPE_BOOL:
			out.append(0xc3 if value else 0xc2)
		TYPE_INT:
			_write_int(out, value)
		TYPE_FLOAT:
			out.append(FLOAT64_FORM[0])
			var le := PackedByteArray()
			le.resize(8)
			le.encode_double(0, value)
			le.reverse()
			out.append_array(le)
		TYPE_STRING, TYPE_STRING_NAME:
			var raw: PackedByteArray = String(value).to_utf8_buffer()
			_write_header(out, raw.size(), STR_HEADER)
			out.append_array(raw)
		TYPE_PACKED_BYTE_ARRAY:
			_write_header(out, value.size(), BIN_HEADER)
			out.append_array(value)
		TYPE_DICTIONARY:
			error = _write_map(out, value, depth)
		TYPE_ARRAY, TYPE_PACKED_STRING_ARRAY, TYPE_PACKED_INT32_ARRAY, TYPE_PACKED_INT64_ARRAY:
			error = _write_array(out, value, depth)
		TYPE_PACKED_FLOAT32_ARRAY, TYPE_PACKED_FLOAT64_ARRAY:
			error = _write_array(out, value, depth)
		_:
			error = (
				"cannot encode a %s: use null, bool, int, float, String, "
				% type_string(typeof(value))
			)
			error += "PackedByteArray, Array or a Dictionary with String keys"
	return error


static func _write_int(out: PackedByteArray, v: int) -> void:
	if v >= 0 and v <= 0x7f:
		out.append(v)
		return
	if v < 0 and v >= -32:
		out.append(v & 0xff)
		return
	var forms: Array = UINT_FORMS if v >= 0 else INT_FORMS
	for form in forms:
		if (v >= 0 and v <= form[0]) or (v < 0 and v >= form[0]):
			out.append(form[1])
			_write_big_endian(out, v, form[2])
			return
	var wide: Array = UINT64_FORM if v >= 0 else INT64_FORM
	out.append(wide[0])
	_write_big_endian(out, v, wide[1])


static func _write_big_endian(out: PackedByteArray, v: int, n: int) -> void:
	for i in range(n - 1, -1, -1):
		out.append((v >> (8 * i)) & 0xff)


static func _write_header(out: PackedByteArray, n: int, header: Array) -> void:
	if n <= header[1]:
		out.append(header[0] | n)
		return
	for form in header[2]:
		if n <= form[0]:
			out.append(form[1])
			_write_big_endian(out, n, form[2])
			return


static func _write_array(out: PackedByteArray, items: Variant, depth: int) -> String:
	_write_header(out, items.size(), ARRAY_HEADER)
	for item in items:
		var error := _write(out, item, depth + 1)
		if error != "":
			return error
	return ""


static func _write_map(out: PackedByteArray, map: Dictionary, depth: int) -> String:
	_write_header(out, map.size(), MAP_HEADER)
	# Dictionaries keep insertion order, so keys go out in the order they were added.
	for key in map:
		if typeof(key) != TYPE_STRING and typeof(key) != TYPE_STRING_NAME:
			return "map keys must be strings in this protocol, got %s" % type_string(typeof(key))
		_write(out, String(key), depth + 1)
		var error := _write(out, map[key], depth + 1)
		if error != "":
			return error
	return ""


# -- framing --------------------------------------------------------------------------------


## The payload with its 4-byte little-endian length in front.
static func frame(payload: PackedByteArray) -> PackedByteArray:
	var framed := PackedByteArray()
	framed.resize(4)
	framed.encode_u32(0, payload.size())  # encode_u32 writes little-endian
	framed.append_array(payload)
	return framed
