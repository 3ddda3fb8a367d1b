package metrics

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestWriterGolden pins the exact bytes of an exposition: no parser between
// the writer and the check, so a parser's leniency cannot hide a mistake.
func TestWriterGolden(t *testing.T) {
	w := NewWriter(1 << 20)
	w.Family("edgestat_test_bytes_total", "Bytes seen.\nSecond line, a back\\slash and \"quotes\".", Counter)
	w.UintValue(18446744073709551615, "device", "eth0")
	w.UintValue(0, "device", `we"ird\na\me`+"\n")
	w.Gauge("edgestat_test_temperature_celsius", "A gauge.", -4.5)
	w.Family("edgestat_test_empty", "Never written: no sample.", Gauge)
	w.Family("edgestat_test_seconds", "A summary.", Summary)
	w.Sample("")
	w.Label("quantile", "0.5")
	w.Float(0.25)
	w.Sample("_sum")
	w.Float(1.5e-7)
	w.Sample("_count")
	w.Uint(3)
	w.Family("edgestat_test_special", "Special values.", Gauge)
	w.Value(math.NaN(), "v", "nan")
	w.Value(math.Inf(1), "v", "inf")
	w.Value(math.Inf(-1), "v", "-inf")
	w.Sample("")
	w.LabelUint("cpu", 12)
	w.Label("mode", "idle")
	w.Int(-7)
	if err := w.end(); err != nil {
		t.Fatal(err)
	}
	want := `# HELP edgestat_test_bytes_total Bytes seen.\nSecond line, a back\\slash and "quotes".
# TYPE edgestat_test_bytes_total counter
edgestat_test_bytes_total{device="eth0"} 18446744073709551615
edgestat_test_bytes_total{device="we\"ird\\na\\me\n"} 0
# HELP edgestat_test_temperature_celsius A gauge.
# TYPE edgestat_test_temperature_celsius gauge
edgestat_test_temperature_celsius -4.5
# HELP edgestat_test_seconds A summary.
# TYPE edgestat_test_seconds summary
edgestat_test_seconds{quantile="0.5"} 0.25
edgestat_test_seconds_sum 1.5e-07
edgestat_test_seconds_count 3
# HELP edgestat_test_special Special values.
# TYPE edgestat_test_special gauge
edgestat_test_special{v="nan"} NaN
edgestat_test_special{v="inf"} +Inf
edgestat_test_special{v="-inf"} -Inf
edgestat_test_special{cpu="12",mode="idle"} -7
`
	if got := string(w.Bytes()); got != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", got, want)
	}
}

func TestLabelValueEscaping(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain /mnt/usb stick", "plain /mnt/usb stick"},
		{`back\slash`, `back\\slash`},
		{`"quoted"`, `\"quoted\"`},
		{"two\nlines", `two\nlines`},
		{"tab\tand CR\r stay", "tab\tand CR\r stay"},
		{"ünïcødé ✓", "ünïcødé ✓"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{"cut \xe2\x9c", "cut \uFFFD\uFFFD"},
		{`\"` + "\n", `\\\"\n`},
	} {
		if got := string(appendLabelValue(nil, tc.in)); got != tc.want {
			t.Errorf("appendLabelValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestHelpTypeOnce: however many samples, a family has one HELP and one
// TYPE line, before its first sample, and its samples are together.
func TestHelpTypeOnce(t *testing.T) {
	w := NewWriter(1 << 20)
	w.Family("a_total", "A.", Counter)
	for i := range 5 {
		w.Sample("")
		w.LabelUint("i", uint64(i))
		w.Uint(uint64(i))
	}
	w.Gauge("b", "B.", 1)
	if err := w.end(); err != nil {
		t.Fatal(err)
	}
	out := string(w.Bytes())
	if n := strings.Count(out, "# HELP a_total "); n != 1 {
		t.Errorf("HELP a_total %d times:\n%s", n, out)
	}
	if n := strings.Count(out, "# TYPE a_total counter\n"); n != 1 {
		t.Errorf("TYPE a_total %d times:\n%s", n, out)
	}
	if !strings.HasPrefix(out, "# HELP a_total A.\n# TYPE a_total counter\na_total{i=\"0\"} 0\n") {
		t.Errorf("header not first:\n%s", out)
	}
}

func TestWriterErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(w *Writer)
		want error
	}{
		{"duplicate family", func(w *Writer) { w.Gauge("a", "", 1); w.Gauge("a", "", 2) }, ErrDuplicate},
		{"counter without _total", func(w *Writer) { w.Counter("a_bytes", "", 1) }, ErrBadName},
		{"metric name with a dash", func(w *Writer) { w.Gauge("a-b", "", 1) }, ErrBadName},
		{"metric name starting with a digit", func(w *Writer) { w.Gauge("1a", "", 1) }, ErrBadName},
		{"empty metric name", func(w *Writer) { w.Gauge("", "", 1) }, ErrBadName},
		{"label name with a dot", func(w *Writer) { w.Family("a", "", Gauge); w.Value(1, "a.b", "x") }, ErrBadName},
		{"reserved label name", func(w *Writer) { w.Family("a", "", Gauge); w.Value(1, "__name__", "x") }, ErrBadName},
		{"sample outside a family", func(w *Writer) { w.Value(1) }, ErrNoFamily},
		{"odd labels", func(w *Writer) { w.Family("a", "", Gauge); w.Value(1, "x") }, ErrUsage},
		{"label outside a line", func(w *Writer) { w.Family("a", "", Gauge); w.Label("x", "y") }, ErrUsage},
		{"value outside a line", func(w *Writer) { w.Family("a", "", Gauge); w.Float(1) }, ErrUsage},
		{"line opened twice", func(w *Writer) { w.Family("a", "", Gauge); w.Sample(""); w.Sample("") }, ErrUsage},
		{"family inside a line", func(w *Writer) { w.Family("a", "", Gauge); w.Sample(""); w.Family("b", "", Gauge) }, ErrUsage},
		{"unfinished line", func(w *Writer) { w.Family("a", "", Gauge); w.Sample("") }, ErrUsage},
		{"too large", func(w *Writer) {
			w.Family("a", "", Gauge)
			for i := range 100 {
				w.Value(float64(i))
			}
		}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWriter(256)
			tc.do(w)
			if err := w.end(); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestWriterRollback: a rolled back family can be written again, and what
// came before the mark is kept.
func TestWriterRollback(t *testing.T) {
	w := NewWriter(1 << 20)
	w.Gauge("kept", "Kept.", 1)
	m := w.mark()
	w.Gauge("dropped", "Dropped.", 2)
	w.Family("dropped_too", "", Gauge)
	w.Sample("")
	w.rollback(m)
	w.Gauge("dropped", "Written again.", 3)
	if err := w.end(); err != nil {
		t.Fatal(err)
	}
	want := "# HELP kept Kept.\n# TYPE kept gauge\nkept 1\n# HELP dropped Written again.\n# TYPE dropped gauge\ndropped 3\n"
	if got := string(w.Bytes()); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for ae, want := range map[string]bool{
		"":                           false,
		"gzip":                       true,
		"GZIP":                       true,
		"deflate, gzip;q=1.0, *;q=0": true,
		"gzip;q=0":                   false,
		"gzip; q=0.0, identity":      false,
		"br, deflate":                false,
		"x-gzip":                     false,
		"identity, gzip ;q=0.5":      true,
	} {
		if got := acceptsGzip(ae); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", ae, got, want)
		}
	}
}

// unescapeLabel reverses appendLabelValue for the fuzz target.
func unescapeLabel(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\n':
			return "", false // must have been escaped
		case c != '\\':
			b.WriteByte(c)
		case i+1 == len(s):
			return "", false
		default:
			i++
			switch s[i] {
			case '\\':
				b.WriteByte('\\')
			case '"':
				b.WriteByte('"')
			case 'n':
				b.WriteByte('\n')
			default:
				return "", false
			}
		}
	}
	return b.String(), true
}

// FuzzLabelValue: any bytes come out as valid UTF-8 with no raw quote or
// newline, and valid UTF-8 comes back unchanged through the unescaping a
// Prometheus parser does.
func FuzzLabelValue(f *testing.F) {
	for _, s := range []string{"", "eth0", `a\"b`, "x\ny", "\xff\xfe", "ü", `\\n`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := string(appendLabelValue(nil, s))
		if !utf8.ValidString(out) {
			t.Fatalf("%q escaped to invalid UTF-8 %q", s, out)
		}
		back, ok := unescapeLabel(out)
		if !ok {
			t.Fatalf("%q escaped to %q, which does not unescape", s, out)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("%q came back as %q (via %q)", s, back, out)
		}
	})
}
