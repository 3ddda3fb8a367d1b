// Package metrics serves GET /metrics in the Prometheus text exposition
// format, version 0.0.4, without the Prometheus client library: the format
// is a few lines of text per family, and writing it ourselves keeps the
// binary small and a scrape free of per-sample allocations.
//
// A [Writer] appends families to one reused buffer; a [Collector] writes
// some families; the [Handler] runs the collectors in order into the
// buffer and answers with it. A collector that fails is cut out of the
// answer (its families are rolled back) and the rest is still served.
package metrics

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// ContentType is what a version 0.0.4 exposition is served as.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Type is the TYPE of a metric family.
type Type uint8

// The metric types we write. Histograms are not used: no figure here is
// worth its buckets on a small box.
const (
	Gauge Type = iota
	Counter
	Summary
	Untyped
)

func (t Type) String() string {
	switch t {
	case Gauge:
		return "gauge"
	case Counter:
		return "counter"
	case Summary:
		return "summary"
	}
	return "untyped"
}

// Errors a Writer reports: each is a programming error in a collector,
// except ErrTooLarge, which is an output that outgrew its bound.
var (
	ErrBadName   = errors.New("metrics: invalid metric or label name")
	ErrDuplicate = errors.New("metrics: family written twice in one exposition")
	ErrNoFamily  = errors.New("metrics: sample outside a family")
	ErrUsage     = errors.New("metrics: writer misused")
	ErrTooLarge  = errors.New("metrics: exposition too large")
)

// Writer appends an exposition to a reused buffer. Families are written
// with Family, then their samples: Value for the common case, or Sample,
// Label... and Float/Uint to build a line without allocating. HELP and
// TYPE go out with the family's first sample, so a family without samples
// (no thermal zones on this box) leaves no trace. The first error sticks
// until Reset or rollback; later calls do nothing.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	buf []byte
	max int // bound of buf; past it the writer fails with ErrTooLarge

	families map[string]struct{} // declared in this exposition
	declared []string            // the same, in order, to roll back

	name, help  string // the current family
	typ         Type
	headerDone  bool // its HELP and TYPE are written
	inLine      bool // a sample line is open
	lineLabeled bool // ... and has a '{'

	err error
}

// NewWriter returns a Writer whose output is bounded to max bytes.
func NewWriter(max int) *Writer {
	return &Writer{max: max, families: make(map[string]struct{})}
}

// Reset empties the writer for a new exposition, keeping its storage.
func (w *Writer) Reset() {
	w.buf = w.buf[:0]
	clear(w.families)
	w.declared = w.declared[:0]
	w.name, w.help, w.headerDone, w.inLine, w.lineLabeled = "", "", false, false, false
	w.err = nil
}

// Bytes is the exposition written so far; valid until the next call.
func (w *Writer) Bytes() []byte { return w.buf }

// Err is the first error since Reset (or the last rollback).
func (w *Writer) Err() error { return w.err }

func (w *Writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// mark is a point a failed collector's output is rolled back to.
type mark struct{ n, families int }

func (w *Writer) mark() mark { return mark{len(w.buf), len(w.declared)} }

// rollback forgets everything written since m, error included.
func (w *Writer) rollback(m mark) {
	w.buf = w.buf[:m.n]
	for _, name := range w.declared[m.families:] {
		delete(w.families, name)
	}
	w.declared = w.declared[:m.families]
	w.name, w.help, w.headerDone, w.inLine, w.lineLabeled = "", "", false, false, false
	w.err = nil
}

// end checks what a collector left: an open line is a bug.
func (w *Writer) end() error {
	if w.inLine {
		w.fail(fmt.Errorf("%w: sample line of %s not finished", ErrUsage, w.name))
	}
	w.name = ""
	return w.err
}

// Family starts the family name. Counter names must end in _total (the
// convention every Prometheus user reads rates by), and each family may be
// written once per exposition: the format wants all of a family's lines
// together.
func (w *Writer) Family(name, help string, t Type) {
	if w.err != nil {
		return
	}
	switch {
	case w.inLine:
		w.fail(fmt.Errorf("%w: family %s started inside a sample line of %s", ErrUsage, name, w.name))
		return
	case !validMetricName(name):
		w.fail(fmt.Errorf("%w: %q", ErrBadName, name))
		return
	case t == Counter && !hasSuffix(name, "_total"):
		w.fail(fmt.Errorf("%w: counter %s does not end in _total", ErrBadName, name))
		return
	}
	if _, ok := w.families[name]; ok {
		w.fail(fmt.Errorf("%w: %s", ErrDuplicate, name))
		return
	}
	w.families[name] = struct{}{}
	w.declared = append(w.declared, name)
	w.name, w.help, w.typ, w.headerDone = name, help, t, false
}

// Sample opens a sample line of the current family; suffix is "" or, for
// a summary, "_sum" or "_count". Labels follow, then Float or Uint.
func (w *Writer) Sample(suffix string) {
	if w.err != nil {
		return
	}
	if w.name == "" {
		w.fail(ErrNoFamily)
		return
	}
	if w.inLine {
		w.fail(fmt.Errorf("%w: sample of %s opened twice", ErrUsage, w.name))
		return
	}
	if !w.headerDone {
		w.buf = append(w.buf, "# HELP "...)
		w.buf = append(w.buf, w.name...)
		w.buf = append(w.buf, ' ')
		w.buf = appendHelp(w.buf, w.help)
		w.buf = append(w.buf, "\n# TYPE "...)
		w.buf = append(w.buf, w.name...)
		w.buf = append(w.buf, ' ')
		w.buf = append(w.buf, w.typ.String()...)
		w.buf = append(w.buf, '\n')
		w.headerDone = true
	}
	w.buf = append(w.buf, w.name...)
	w.buf = append(w.buf, suffix...)
	w.inLine, w.lineLabeled = true, false
}

// labelName writes the separator and name= of a label.
func (w *Writer) labelName(name string) bool {
	if w.err != nil {
		return false
	}
	if !w.inLine {
		w.fail(fmt.Errorf("%w: label %s outside a sample line", ErrUsage, name))
		return false
	}
	if !validLabelName(name) {
		w.fail(fmt.Errorf("%w: label %q of %s", ErrBadName, name, w.name))
		return false
	}
	if w.lineLabeled {
		w.buf = append(w.buf, ',')
	} else {
		w.buf = append(w.buf, '{')
		w.lineLabeled = true
	}
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '=', '"')
	return true
}

// Label adds a label to the open sample line; the value is escaped.
func (w *Writer) Label(name, value string) {
	if w.labelName(name) {
		w.buf = appendLabelValue(w.buf, value)
		w.buf = append(w.buf, '"')
	}
}

// LabelUint adds a label whose value is a number (a CPU, a probe id)
// without making a string of it.
func (w *Writer) LabelUint(name string, v uint64) {
	if w.labelName(name) {
		w.buf = strconv.AppendUint(w.buf, v, 10)
		w.buf = append(w.buf, '"')
	}
}

// closeLine ends the label set before the value.
func (w *Writer) closeLine() bool {
	if w.err != nil {
		return false
	}
	if !w.inLine {
		w.fail(fmt.Errorf("%w: value outside a sample line", ErrUsage))
		return false
	}
	if w.lineLabeled {
		w.buf = append(w.buf, '}')
	}
	w.buf = append(w.buf, ' ')
	return true
}

func (w *Writer) endLine() {
	w.buf = append(w.buf, '\n')
	w.inLine = false
	if len(w.buf) > w.max {
		w.fail(fmt.Errorf("%w: over %d bytes", ErrTooLarge, w.max))
	}
}

// Float ends the open sample line with v.
func (w *Writer) Float(v float64) {
	if w.closeLine() {
		w.buf = appendFloat(w.buf, v)
		w.endLine()
	}
}

// Uint ends the open sample line with v, exactly (a float64 would round
// byte counters past 2^53).
func (w *Writer) Uint(v uint64) {
	if w.closeLine() {
		w.buf = strconv.AppendUint(w.buf, v, 10)
		w.endLine()
	}
}

// Int ends the open sample line with v.
func (w *Writer) Int(v int64) {
	if w.closeLine() {
		w.buf = strconv.AppendInt(w.buf, v, 10)
		w.endLine()
	}
}

// Value writes one sample of the current family: labels are name, value
// pairs. The variadic slice stays on the caller's stack.
func (w *Writer) Value(v float64, labels ...string) {
	if w.labels(labels) {
		w.Float(v)
	}
}

// UintValue is Value for an exact integer.
func (w *Writer) UintValue(v uint64, labels ...string) {
	if w.labels(labels) {
		w.Uint(v)
	}
}

func (w *Writer) labels(labels []string) bool {
	if len(labels)%2 != 0 {
		w.fail(fmt.Errorf("%w: odd label list for %s", ErrUsage, w.name))
		return false
	}
	w.Sample("")
	for i := 0; i < len(labels); i += 2 {
		w.Label(labels[i], labels[i+1])
	}
	return w.err == nil
}

// Gauge writes a family of one unlabelled gauge sample.
func (w *Writer) Gauge(name, help string, v float64) {
	w.Family(name, help, Gauge)
	w.Value(v)
}

// GaugeUint writes a family of one unlabelled gauge sample, exactly.
func (w *Writer) GaugeUint(name, help string, v uint64) {
	w.Family(name, help, Gauge)
	w.UintValue(v)
}

// Counter writes a family of one unlabelled counter sample.
func (w *Writer) Counter(name, help string, v uint64) {
	w.Family(name, help, Counter)
	w.UintValue(v)
}

// appendFloat writes v as the format wants it: Go's shortest float, with
// NaN, +Inf and -Inf spelled as Prometheus parses them.
func appendFloat(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "+Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// appendLabelValue escapes a label value: backslash, double quote and
// newline, as the format says. Bytes that are not UTF-8 (a mount point or
// an interface name is any bytes to the kernel) become U+FFFD, because
// Prometheus refuses an exposition with invalid UTF-8 as a whole.
func appendLabelValue(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '\\':
				dst = append(dst, '\\', '\\')
			case '"':
				dst = append(dst, '\\', '"')
			case '\n':
				dst = append(dst, '\\', 'n')
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

// appendHelp escapes a HELP text: backslash and newline only (a quote is
// plain text there).
func appendHelp(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// validMetricName is [a-zA-Z_:][a-zA-Z0-9_:]*.
func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// validLabelName is [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__"
// (reserved for Prometheus itself).
func validLabelName(s string) bool {
	if s == "" || (len(s) >= 2 && s[0] == '_' && s[1] == '_') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
