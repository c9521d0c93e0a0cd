// A small strict JSON reader, for the server's discovery file (docs/PROTOCOL.md, section 4).
// The core must build without Unity (so no JsonUtility) and with only the base library.
//
//   object -> Dictionary<string, object>    array -> List<object>    string -> string
//   integer that fits a long -> long        other number -> double   true/false -> bool
//   null -> null
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace NpcAi.Bridge
{
    /// <summary>Reads JSON text.</summary>
    public static class Json
    {
        const int MaxDepth = 128;

        /// <summary>The one value in <paramref name="text"/>.</summary>
        /// <exception cref="FormatException">The text is not one JSON value.</exception>
        public static object Parse(string text)
        {
            if (text == null) { throw new ArgumentNullException("text"); }
            int pos = 0;
            var value = ReadValue(text, ref pos, 0);
            SkipSpace(text, ref pos);
            if (pos != text.Length) { throw Fail(text, pos, "trailing characters"); }
            return value;
        }

        static object ReadValue(string s, ref int pos, int depth)
        {
            if (depth > MaxDepth) { throw Fail(s, pos, "nested too deep"); }
            SkipSpace(s, ref pos);
            if (pos >= s.Length) { throw Fail(s, pos, "a value was expected"); }
            char c = s[pos];
            if (c == '{') { return ReadObject(s, ref pos, depth); }
            if (c == '[') { return ReadArray(s, ref pos, depth); }
            if (c == '"') { return ReadString(s, ref pos); }
            if (c == '-' || (c >= '0' && c <= '9')) { return ReadNumber(s, ref pos); }
            if (Word(s, ref pos, "true")) { return true; }
            if (Word(s, ref pos, "false")) { return false; }
            if (Word(s, ref pos, "null")) { return null; }
            throw Fail(s, pos, "unexpected character '" + c + "'");
        }

        static Dictionary<string, object> ReadObject(string s, ref int pos, int depth)
        {
            var map = new Dictionary<string, object>();
            pos++; // {
            SkipSpace(s, ref pos);
            if (pos < s.Length && s[pos] == '}') { pos++; return map; }
            while (true)
            {
                SkipSpace(s, ref pos);
                if (pos >= s.Length || s[pos] != '"') { throw Fail(s, pos, "a key was expected"); }
                var key = ReadString(s, ref pos);
                SkipSpace(s, ref pos);
                if (pos >= s.Length || s[pos] != ':') { throw Fail(s, pos, "':' was expected"); }
                pos++;
                map[key] = ReadValue(s, ref pos, depth + 1);
                SkipSpace(s, ref pos);
                if (pos < s.Length && s[pos] == ',') { pos++; continue; }
                if (pos < s.Length && s[pos] == '}') { pos++; return map; }
                throw Fail(s, pos, "',' or '}' was expected");
            }
        }

        static List<object> ReadArray(string s, ref int pos, int depth)
        {
            var list = new List<object>();
            pos++; // [
            SkipSpace(s, ref pos);
            if (pos < s.Length && s[pos] == ']') { pos++; return list; }
            while (true)
            {
                list.Add(ReadValue(s, ref pos, depth + 1));
                SkipSpace(s, ref pos);
                if (pos < s.Length && s[pos] == ',') { pos++; continue; }
                if (pos < s.Length && s[pos] == ']') { pos++; return list; }
                throw Fail(s, pos, "',' or ']' was expected");
            }
        }

        static string ReadString(string s, ref int pos)
        {
            var sb = new StringBuilder();
            pos++; // opening quote
            while (pos < s.Length)
            {
                char c = s[pos++];
                if (c == '"') { return sb.ToString(); }
                if (c < ' ') { throw Fail(s, pos - 1, "control character in a string"); }
                if (c != '\\') { sb.Append(c); continue; }
                if (pos >= s.Length) { break; }
                char e = s[pos++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        int code;
                        if (pos + 4 > s.Length || !int.TryParse(
                                s.Substring(pos, 4), NumberStyles.AllowHexSpecifier,
                                CultureInfo.InvariantCulture, out code))
                        {
                            throw Fail(s, pos, "bad \\u escape");
                        }
                        sb.Append((char)code); // surrogate pairs arrive as two escapes
                        pos += 4;
                        break;
                    default: throw Fail(s, pos - 1, "bad escape '\\" + e + "'");
                }
            }
            throw Fail(s, pos, "unterminated string");
        }

        static object ReadNumber(string s, ref int pos)
        {
            int start = pos;
            bool integral = true;
            if (s[pos] == '-') { pos++; }
            while (pos < s.Length)
            {
                char c = s[pos];
                if (c >= '0' && c <= '9') { pos++; continue; }
                if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')
                {
                    integral = false;
                    pos++;
                    continue;
                }
                break;
            }
            var text = s.Substring(start, pos - start);
            long l;
            if (integral && long.TryParse(text, NumberStyles.AllowLeadingSign,
                                          CultureInfo.InvariantCulture, out l))
            {
                return l;
            }
            double d;
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out d))
            {
                return d;
            }
            throw Fail(s, start, "bad number '" + text + "'");
        }

        static bool Word(string s, ref int pos, string word)
        {
            if (string.CompareOrdinal(s, pos, word, 0, word.Length) != 0) { return false; }
            pos += word.Length;
            return true;
        }

        static void SkipSpace(string s, ref int pos)
        {
            while (pos < s.Length && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n'
                                      || s[pos] == '\r'))
            {
                pos++;
            }
        }

        static FormatException Fail(string s, int pos, string what)
        {
            return new FormatException("JSON: " + what + " at character " + pos);
        }
    }
}
