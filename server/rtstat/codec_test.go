package rtstat

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseMessage(t *testing.T) {
	tests := []struct {
		line string
		want Message
	}{
		{"start", Message{Command: "start"}},
		{"start::", Message{Command: "start"}},
		{"START::", Message{Command: "start"}},
		{"Interval::1.5", Message{Command: "interval", Args: []string{"1.5"}}},
		{"auth::s3cret", Message{Command: "auth", Args: []string{"s3cret"}}},
		{"auth::", Message{Command: "auth"}},
		{"auth::::", Message{Command: "auth", Args: []string{""}}},
		{"  version \r", Message{Command: "version"}},
		{`x::a\::b::c`, Message{Command: "x", Args: []string{"a::b", "c"}}},
		{`x::back\\slash`, Message{Command: "x", Args: []string{`back\slash`}}},
		{`x::two\nlines`, Message{Command: "x", Args: []string{"two\nlines"}}},
		{`x::tab\t`, Message{Command: "x", Args: []string{"tabt"}}},
		{`x::a::b::`, Message{Command: "x", Args: []string{"a", "b"}}},
		{`x::a\::`, Message{Command: "x", Args: []string{"a::"}}},
		{`x::trailing\`, Message{Command: "x", Args: []string{`trailing\`}}},
		{`x::a:b`, Message{Command: "x", Args: []string{"a:b"}}},
		{`x::a:::b`, Message{Command: "x", Args: []string{"a", ":b"}}},
		{`x::\:\:\:`, Message{Command: "x", Args: []string{":::"}}},
		{"Push::{\"a\":1}", Message{Command: "push", Args: []string{`{"a":1}`}}},
	}
	for _, tt := range tests {
		got, err := ParseMessage([]byte(tt.line))
		if err != nil {
			t.Errorf("ParseMessage(%q): %v", tt.line, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseMessage(%q) = %#v, want %#v", tt.line, got, tt.want)
		}
	}
	for _, empty := range []string{"", " ", "\r", "\t \r"} {
		if _, err := ParseMessage([]byte(empty)); !errors.Is(err, ErrEmpty) {
			t.Errorf("ParseMessage(%q) err = %v, want ErrEmpty", empty, err)
		}
	}
}

func TestAppendMessage(t *testing.T) {
	tests := []struct {
		cmd  string
		args []string
		want string
	}{
		{"Welcome", []string{"Rt-Stat compatible edgestat v1"}, "Welcome::Rt-Stat compatible edgestat v1"},
		{"Error", []string{"Not authorized"}, "Error::Not authorized"},
		{"x", []string{"a::b"}, `x::a\::b`},
		{"x", []string{`c:\dir`}, `x::c:\\dir`},
		{"x", []string{"l1\nl2"}, `x::l1\nl2`},
		{"x", []string{":::"}, `x::\:\:\:`},
		{"x", []string{"a:", "b"}, `x::a\:::b`},
		{"x", []string{"a", "b"}, "x::a::b"},
		{"version", nil, "version"},
	}
	for _, tt := range tests {
		if got := string(AppendMessage(nil, tt.cmd, tt.args...)); got != tt.want {
			t.Errorf("AppendMessage(%q, %q) = %q, want %q", tt.cmd, tt.args, got, tt.want)
		}
	}
}

// The encoder's output decodes back to the arguments, for arguments that
// survive the line format (a last argument that is not empty and has no
// outer white space, which a line's trimming would eat).
func TestRoundTrip(t *testing.T) {
	for _, args := range [][]string{
		{"a::b", `\`, "::", ":::", "::::", "x:", ":x", "\n", `\n`, "end"},
		{`{"ip":"fe80::1","path":"C:\\"}`},
		{"", "", "z"},
	} {
		line := AppendMessage(nil, "cmd", args...)
		got, err := ParseMessage(line)
		if err != nil || !reflect.DeepEqual(got.Args, args) {
			t.Errorf("round trip of %q via %q = %q, %v", args, line, got.Args, err)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{"start::", "interval::1.5", `auth::a\::b`, `x::\`, "::", "\xff\xfe::\\", "a:::::b", "Push::{\"a\":\"b\\\\::c\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := ParseMessage(line)
		if err != nil {
			if len(bytes.TrimSpace(line)) != 0 {
				t.Fatalf("error on non-empty line %q: %v", line, err)
			}
			return
		}
		if strings.Contains(m.Command, "::") {
			t.Fatalf("command %q holds a separator", m.Command)
		}
		// Re-encoding what was decoded must decode to the same message.
		// Commands are never escaped, so one with a colon cannot round-trip.
		if strings.Contains(m.Command, ":") {
			return
		}
		if n := len(m.Args); n > 0 && (m.Args[n-1] == "" || strings.TrimSpace(m.Args[n-1]) != m.Args[n-1]) {
			return
		}
		enc := AppendMessage(nil, m.Command, m.Args...)
		if len(bytes.TrimSpace(enc)) == 0 {
			return
		}
		m2, err := ParseMessage(enc)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoding %q: %q decodes to %#v, want %#v (%v)", line, enc, m2, m, err)
		}
	})
}

func FuzzReadLines(f *testing.F) {
	f.Add([]byte("start::\r\n\xff\xfb\x01interval::1\n"), 16)
	f.Add([]byte("\xff\xfa\x18\x00xterm\xff\xf0auth::x\r\n"), 8)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max < 1 || max > 1<<16 {
			return
		}
		_ = ReadLines(bytes.NewReader(data), max, func(line []byte) bool {
			if len(line) > max {
				t.Fatalf("line of %d bytes over max %d", len(line), max)
			}
			return true
		})
	})
}

func TestReadLinesTelnet(t *testing.T) {
	in := "\xff\xfd\x03\xff\xfb\x18start::\r\n" + // DO SGA, WILL TTYPE
		"\xff\xfa\x18\x00xterm\xff\xf0" + // SB TTYPE IS xterm SE
		"inter\xff\xf1val::1\r\n" + // NOP inside a word
		"a\xff\xffb\n" + // escaped 255
		"last" // no newline at EOF
	var got []string
	err := ReadLines(strings.NewReader(in), 100, func(line []byte) bool {
		got = append(got, string(line))
		return true
	})
	want := []string{"start::", "interval::1", "a\xffb", "last"}
	if err == nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q (err %v), want %q and EOF", got, err, want)
	}
	err = ReadLines(strings.NewReader(strings.Repeat("x", 200)+"\n"), 100, func([]byte) bool { return true })
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("long line: err = %v", err)
	}
}
