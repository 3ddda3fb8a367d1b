package proc

import (
	"math"
	"strconv"
	"testing"
)

func TestParseFloat(t *testing.T) {
	good := []string{"0", "0.00", "0.05", "1690.18", "2983.59", "3068.000", "6133.05",
		"-0.5", "+2", "1.", ".5", "007.10", "34359738367", "123456789012345.5",
		"1234567890123456789", "0.000000000000000000001", "1e3", "99999999999999999999.9"}
	for _, s := range good {
		want, _ := strconv.ParseFloat(s, 64)
		got, ok := parseFloat([]byte(s))
		if !ok || got != want {
			t.Errorf("parseFloat(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "-", "+", ".", "1..2", "1.2.3", "abc", "1a", "NaN", "Inf", "-inf", "1e999", "0x10", " 1"} {
		if got, ok := parseFloat([]byte(s)); ok {
			t.Errorf("parseFloat(%q) = %v, want failure", s, got)
		}
	}
}

func TestParseUint(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"18446744073709551615", math.MaxUint64, true},
		{"18446744073709551616", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"1 ", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseUint([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseUint(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	ints := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"-9223372036854775808", math.MinInt64, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"-44000", -44000, true},
		{"+5", 5, true},
		{"--5", 0, false},
	}
	for _, tt := range ints {
		got, ok := parseInt([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFields(t *testing.T) {
	f, rest := nextField([]byte(" \t a  b"))
	if string(f) != "a" || string(rest) != "  b" {
		t.Errorf("nextField = %q, %q", f, rest)
	}
	f, rest = nextField([]byte("   "))
	if len(f) != 0 || len(rest) != 0 {
		t.Errorf("nextField of blanks = %q, %q", f, rest)
	}
	k, v, ok := splitKey([]byte("SecPageTables:\t       0 kB"))
	if !ok || string(k) != "SecPageTables" || string(v) != "0 kB" {
		t.Errorf("splitKey = %q, %q, %v", k, v, ok)
	}
	if l, r := nextLine([]byte("a\nb")); string(l) != "a" || string(r) != "b" {
		t.Errorf("nextLine = %q, %q", l, r)
	}
	if l, r := nextLine([]byte("a")); string(l) != "a" || r != nil {
		t.Errorf("nextLine without newline = %q, %q", l, r)
	}
}

// FuzzParseFloat checks the byte parser against strconv on what both accept.
func FuzzParseFloat(f *testing.F) {
	for _, s := range []string{"0.05", "1690.18", "-1.5", "1e5", "123456789012345678", ".", "1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseFloat([]byte(s))
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("parseFloat(%q) = %v but strconv fails: %v", s, got, err)
		}
		if got != want {
			t.Fatalf("parseFloat(%q) = %v, strconv = %v", s, got, want)
		}
	})
}

func BenchmarkParseFloat(b *testing.B) {
	in := []byte("361471.92")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseFloat(in); !ok {
			b.Fatal("bad")
		}
	}
}
