package traffic

import (
	"fmt"
	"math"
	"unicode/utf8"

	"edgestat/probe"
)

// Bounds of what is stored. A report outside them is refused with an error
// naming the column, so one bad report never poisons the database.
const (
	maxTime      = 1<<43 - 1      // ms: the year 2248; times are shifted left 20 bits in traffic_raw
	maxFuture    = 24 * 3_600_000 // ms a report may be ahead of this box's clock
	maxSourceLen = 128
	maxPathLen   = 255
	maxStringLen = 1024
	maxDuration  = 1e12 // ms, about 31 years
	maxCounter   = math.MaxInt64
)

// validate checks what ParseRow does not: ranges the store relies on. now
// is the wall clock in ms.
func validate(r probe.Row, now int64) error {
	switch r := r.(type) {
	case *probe.StatRow:
		if err := checkHeader(r.Source, r.Time, now); err != nil {
			return err
		}
		if err := checkPath(5, r.Path, false); err != nil {
			return err
		}
		return checkCounters(6, r.TotalFlows, r.ActiveFlows, r.Bytes, r.Payload, r.Packets)
	case *probe.HostRow:
		if err := checkHeader(r.Source, r.Time, now); err != nil {
			return err
		}
		if !r.IP.IsValid() {
			return fmt.Errorf("column 5 (ip): missing")
		}
		return checkCounters(6, r.OutBytes, r.InBytes, r.OutPackets, r.InPackets)
	case *probe.FlowRow:
		if err := checkHeader(r.Source, r.Time, now); err != nil {
			return err
		}
		if r.StartTime < 0 || r.StartTime > r.Time {
			return fmt.Errorf("column 5 (start_time): %d is not between 0 and the report time %d", r.StartTime, r.Time)
		}
		if err := checkCounters(12, r.ULPackets, r.DLPackets, r.ULBytes, r.DLBytes); err != nil {
			return err
		}
		if err := checkCounters(4, r.FlowID); err != nil {
			return err
		}
		if err := checkCounters(17, r.Retransmissions); err != nil {
			return err
		}
		if err := checkCounters(23, r.Transactions); err != nil {
			return err
		}
		if err := checkPath(20, r.Path, true); err != nil {
			return err
		}
		for _, d := range []struct {
			col int
			v   float64
		}{{16, r.TCPRTT}, {22, r.ResponseTime}, {24, r.InteractionTime}, {24, r.MaxJitter}} {
			if d.v < 0 || d.v > maxDuration { // column 24 is interaction_time (1) or max_jitter (3)
				return fmt.Errorf("column %d: duration %g ms out of range 0 to %g", d.col, d.v, float64(maxDuration))
			}
		}
		for _, s := range []struct {
			col int
			v   string
		}{{25, r.Hostname}, {26, r.MIME}, {27, r.Referer}, {28, r.DeviceOS}, {22, r.ServerName}} {
			if len(s.v) > maxStringLen {
				return fmt.Errorf("column %d: %d bytes, at most %d", s.col, len(s.v), maxStringLen)
			}
		}
		return nil
	}
	return fmt.Errorf("unsupported report type %T", r)
}

func checkHeader(source string, t, now int64) error {
	switch {
	case len(source) > maxSourceLen:
		return fmt.Errorf("column 2 (source): %d bytes, at most %d", len(source), maxSourceLen)
	case !utf8.ValidString(source):
		return fmt.Errorf("column 2 (source): not UTF-8")
	case t < 0 || t > maxTime:
		return fmt.Errorf("column 3 (time): %d ms is not between 1970 and 2248", t)
	case t > now+maxFuture:
		return fmt.Errorf("column 3 (time): %d ms is more than a day ahead of this box's clock (%d)", t, now)
	}
	return nil
}

// checkPath wants dotted MMT ids: "99.178.354".
func checkPath(col int, p string, emptyOK bool) error {
	if p == "" {
		if emptyOK {
			return nil
		}
		return fmt.Errorf("column %d (path): empty", col)
	}
	if len(p) > maxPathLen {
		return fmt.Errorf("column %d (path): %d bytes, at most %d", col, len(p), maxPathLen)
	}
	digits := 0
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c >= '0' && c <= '9' && digits < 10:
			digits++
		case c == '.' && digits > 0 && i < len(p)-1:
			digits = 0
		default:
			return fmt.Errorf("column %d (path): %q is not dotted protocol ids", col, p)
		}
	}
	return nil
}

func checkCounters(col int, vs ...uint64) error {
	for i, v := range vs {
		if v > maxCounter {
			return fmt.Errorf("column %d: %d is larger than %d", col+i, v, int64(maxCounter))
		}
	}
	return nil
}
