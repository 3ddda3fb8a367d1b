package rtstat

import (
	"bytes"
	"errors"
	"strings"
)

// The Rt-Stat wire format: `command::arg1::arg2`, one message per line (raw
// TCP) or per WebSocket text frame. In arguments `\` escapes `::` and `\`,
// and a newline is written `\n`; nothing else is escaped.

// Sep separates a command from its arguments and the arguments from each other.
const Sep = "::"

// ErrEmpty is returned by ParseMessage for an empty line.
var ErrEmpty = errors.New("rtstat: empty message")

// A Message is one decoded request or response.
type Message struct {
	Command string // lower-cased
	Args    []string
}

// ParseMessage decodes one line without its line terminator. Surrounding
// white space is ignored, the command is lower-cased, and a trailing
// separator adds no argument, so `start::` means `start` (the original web
// client always sends the separator).
func ParseMessage(line []byte) (Message, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return Message{}, ErrEmpty
	}
	cmd, rest, found := bytes.Cut(line, []byte(Sep))
	m := Message{Command: lowerCommand(bytes.TrimSpace(cmd))}
	if !found || len(rest) == 0 {
		return m, nil
	}
	m.Args = parseArgs(rest)
	return m, nil
}

// lowerCommand avoids an allocation for the known commands, which arrive
// in lower case from every client we know of.
func lowerCommand(b []byte) string {
	for _, c := range commands {
		if string(b) == c {
			return c
		}
	}
	return strings.ToLower(string(b))
}

var commands = [...]string{"auth", "start", "stop", "interval", "version", "quit", "exit", "pong"}

func parseArgs(s []byte) []string {
	var args []string
	var cur []byte
	escaped, afterSep := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		afterSep = false
		switch {
		case escaped:
			escaped = false
			if c == 'n' {
				cur = append(cur, '\n')
			} else {
				cur = append(cur, c)
			}
		case c == '\\':
			escaped = true
		case c == ':' && i+1 < len(s) && s[i+1] == ':':
			args = append(args, string(cur))
			cur = cur[:0]
			afterSep = true
			i++
		default:
			cur = append(cur, c)
		}
	}
	if escaped {
		// A lone trailing backslash escapes nothing; keep it.
		cur = append(cur, '\\')
	}
	// `cmd::a::` ends with a separator: the empty tail is not an argument.
	if !afterSep {
		args = append(args, string(cur))
	}
	return args
}

// AppendMessage appends the encoded message (without line terminator) to dst.
func AppendMessage(dst []byte, command string, args ...string) []byte {
	dst = append(dst, command...)
	for _, a := range args {
		dst = append(dst, Sep...)
		dst = AppendEscaped(dst, a)
	}
	return dst
}

// AppendEscaped appends s with the argument escaping applied. Decoders (ours
// and the original ones) unescape one character at a time, so in a run of
// colons every colon but the last is escaped (`::` becomes `\::`, and no
// unescaped pair is left in longer runs), and so is a colon ending the
// argument, which would otherwise pair with the separator that follows.
func AppendEscaped[T string | []byte](dst []byte, s T) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			dst = append(dst, '\\', '\\')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == ':' && (i+1 == len(s) || s[i+1] == ':'):
			dst = append(dst, '\\', ':')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
