package probe

import (
	"bufio"
	"cmp"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
)

// CSVSink writes reports as MMT-Probe CSV lines.
type CSVSink struct {
	w   *bufio.Writer
	buf []byte
	err error
}

var _ Sink = (*CSVSink)(nil)

// NewCSVSink writes to w; call Flush at the end.
func NewCSVSink(w io.Writer) *CSVSink {
	return &CSVSink{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 512)}
}

func (s *CSVSink) write(r Row) {
	if s.err != nil {
		return
	}
	s.buf = append(r.AppendCSV(s.buf[:0]), '\n')
	_, s.err = s.w.Write(s.buf)
}

// Stats implements Sink.
func (s *CSVSink) Stats(rows []StatRow) {
	for i := range rows {
		s.write(&rows[i])
	}
}

// Flows implements Sink.
func (s *CSVSink) Flows(rows []FlowRow) {
	for i := range rows {
		s.write(&rows[i])
	}
}

// Hosts implements Sink.
func (s *CSVSink) Hosts(rows []HostRow) {
	for i := range rows {
		s.write(&rows[i])
	}
}

// Flush writes what is buffered and returns the first write error.
func (s *CSVSink) Flush() error {
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// MultiSink passes every report to each sink in turn.
func MultiSink(sinks ...Sink) Sink { return multiSink(sinks) }

type multiSink []Sink

func (m multiSink) Stats(rows []StatRow) {
	for _, s := range m {
		s.Stats(rows)
	}
}

func (m multiSink) Flows(rows []FlowRow) {
	for _, s := range m {
		s.Flows(rows)
	}
}

func (m multiSink) Hosts(rows []HostRow) {
	for _, s := range m {
		s.Hosts(rows)
	}
}

// LogSink logs a summary of the reports: per period the totals, the busiest
// leaf paths and hosts, and the flow reports by format.
type LogSink struct {
	Logger *slog.Logger // nil: slog.Default()
	Top    int          // paths and hosts named per period; 0: 5
}

var _ Sink = (*LogSink)(nil)

func (s *LogSink) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *LogSink) top() int {
	if s.Top > 0 {
		return s.Top
	}
	return 5
}

// Stats implements Sink: one line per period.
func (s *LogSink) Stats(rows []StatRow) {
	if len(rows) == 0 {
		return
	}
	var packets, bytes uint64
	leaves := make([]*StatRow, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		if !strings.Contains(r.Path, ".") { // a root: link layer totals
			packets += r.Packets
			bytes += r.Bytes
		}
		leaf := r.Packets > 0
		for j := range rows {
			if leaf && j != i && strings.HasPrefix(rows[j].Path, r.Path+".") && rows[j].Packets > 0 {
				leaf = false
			}
		}
		if leaf {
			leaves = append(leaves, r)
		}
	}
	slices.SortFunc(leaves, func(a, b *StatRow) int { return cmp.Compare(b.Bytes, a.Bytes) })
	top := make([]string, 0, s.top())
	for _, r := range leaves {
		if len(top) == cap(top) {
			break
		}
		top = append(top, PathName(r.Path)+"="+strconv.FormatUint(r.Bytes, 10)+"B")
	}
	r0 := &rows[0]
	s.logger().Info("probe stats", "probe", r0.Probe, "source", r0.Source, "time_ms", r0.Time,
		"paths", len(rows), "packets", packets, "bytes", bytes, "top", top)
}

// Flows implements Sink: one line per batch.
func (s *LogSink) Flows(rows []FlowRow) {
	if len(rows) == 0 {
		return
	}
	var n [4]int
	for i := range rows {
		if f := rows[i].Format; int(f) < len(n) {
			n[f]++
		}
	}
	s.logger().Info("probe flows", "probe", rows[0].Probe, "source", rows[0].Source,
		"ended", len(rows), "plain", n[0], "http", n[1], "tls", n[2], "rtp", n[3])
}

// Hosts implements Sink: one line per period.
func (s *LogSink) Hosts(rows []HostRow) {
	if len(rows) == 0 {
		return
	}
	hs := make([]*HostRow, 0, len(rows))
	for i := range rows {
		hs = append(hs, &rows[i])
	}
	slices.SortFunc(hs, func(a, b *HostRow) int {
		return cmp.Compare(b.InBytes+b.OutBytes, a.InBytes+a.OutBytes)
	})
	top := make([]string, 0, s.top())
	for _, h := range hs {
		if len(top) == cap(top) {
			break
		}
		top = append(top, h.IP.String()+"="+strconv.FormatUint(h.InBytes+h.OutBytes, 10)+"B")
	}
	s.logger().Info("probe hosts", "probe", rows[0].Probe, "source", rows[0].Source,
		"hosts", len(rows), "top", top)
}
