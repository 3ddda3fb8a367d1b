package metrics

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseStatm: parseStatm reads the first two numbers of any bytes
// that begin with two space-separated decimal fields, and reports failure
// for the rest without panicking.
func FuzzParseStatm(f *testing.F) {
	for _, s := range []string{"1234 567 89 1 0 300 0\n", "1 2", "", "x y", "99999999999999999999 1 2"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		size, rss, ok := parseStatm(b)
		if !ok {
			return
		}
		fields := strings.Fields(string(b))
		if len(fields) < 2 {
			t.Fatalf("%q: ok with %d fields", b, len(fields))
		}
		a, errA := strconv.ParseUint(fields[0], 10, 64)
		c, errC := strconv.ParseUint(fields[1], 10, 64)
		if errA == nil && errC == nil && (a != size || c != rss) {
			t.Fatalf("%q: %d %d, want %d %d", b, size, rss, a, c)
		}
	})
}
