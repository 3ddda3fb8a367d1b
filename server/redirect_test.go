package server

import (
	"net/url"
	"strings"
	"testing"
)

// browserReads is what a browser makes of a Location value: tabs and
// newlines dropped, backslashes read as slashes (the URL Standard).
func browserReads(loc string) (*url.URL, error) {
	loc = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, loc)
	base, _ := url.Parse("http://box.lan/login")
	u, err := url.Parse(loc)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(u), nil
}

func TestSafeNextStaysOnTheBox(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/#/traffic", "/#/traffic"},
		{"/traffic/data?period=day", "/traffic/data?period=day"},
		{"/%09/evil.example", "/%09/evil.example"}, // escaped: a path segment, harmless
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\\evil.example", "/"},
		{"/a\\b", "/"},
		{"//evil.example", "/"},
		{"https://evil.example/", "/"},
		{"evil.example", "/"},
		{"", "/"},
		{"/\x00", "/"},
	} {
		if got := safeNext(c.in); got != c.want {
			t.Errorf("safeNext(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzSafeNext: whatever next is, the browser stays on the box.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "//x", "/\t/x", "/\\x", "https://x", "/%2f%2fx", "/ok?a=b#c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		u, err := browserReads(got)
		if err != nil {
			return // the browser would not follow it at all
		}
		if u.Host != "box.lan" || u.Scheme != "http" {
			t.Fatalf("safeNext(%q) = %q: the browser goes to %v", next, got, u)
		}
	})
}
