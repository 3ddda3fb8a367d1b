package main

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// phsCount is one protocol's line of tshark's protocol hierarchy.
type phsCount struct{ Frames, Bytes uint64 }

// parsePHS reads the output of `tshark -q -z io,phs` into per-protocol
// totals. A protocol appears at several depths (tcp under ip and under
// ipv6): its counts are summed over every place it stands.
func parsePHS(out []byte) (map[string]phsCount, error) {
	got := map[string]phsCount{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	in := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Filter:") {
			in = true
			continue
		}
		if !in || strings.HasPrefix(line, "====") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || !strings.HasPrefix(f[1], "frames:") || !strings.HasPrefix(f[2], "bytes:") {
			return nil, fmt.Errorf("phs line %q: want NAME frames:N bytes:N", line)
		}
		frames, err1 := strconv.ParseUint(strings.TrimPrefix(f[1], "frames:"), 10, 64)
		b, err2 := strconv.ParseUint(strings.TrimPrefix(f[2], "bytes:"), 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("phs line %q: bad number", line)
		}
		c := got[f[0]]
		c.Frames += frames
		c.Bytes += b
		got[f[0]] = c
	}
	if !in {
		return nil, fmt.Errorf("no protocol hierarchy in tshark's output")
	}
	return got, sc.Err()
}

func TestParsePHS(t *testing.T) {
	out := []byte(`
===================================================================
Protocol Hierarchy Statistics
Filter: 

eth                                      frames:60 bytes:26866
  ip                                     frames:58 bytes:26000
    tcp                                  frames:53 bytes:24045
      smtp                               frames:28 bytes:15335
  ipv6                                   frames:2 bytes:866
    tcp                                  frames:2 bytes:866
===================================================================
`)
	got, err := parsePHS(out)
	if err != nil {
		t.Fatal(err)
	}
	if got["tcp"] != (phsCount{55, 24911}) || got["eth"] != (phsCount{60, 26866}) || got["smtp"] != (phsCount{28, 15335}) {
		t.Fatalf("got %v", got)
	}
	for _, bad := range []string{"", "Filter:\neth frames:x bytes:1\n", "Filter:\neth 1 2\n"} {
		if _, err := parsePHS([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParsePHS(f *testing.F) {
	f.Add([]byte("Filter: \n\neth frames:1 bytes:60\n  ip frames:1 bytes:60\n===\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parsePHS(b)
		if err == nil && got == nil {
			t.Fatal("nil map without error")
		}
	})
}
