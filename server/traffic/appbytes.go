package traffic

import (
	"time"

	"edgestat/probe"
)

// Bounds of the per-application byte counters behind /metrics'
// edgestat_probe_app_bytes_total.
const (
	// MaxAppSeries is the most (probe, application) pairs counted at once.
	// The emulator's probe touches about 40 applications; operator
	// sessions bring new probe ids, so idle pairs are evicted (below).
	MaxAppSeries = 4096
	// appSweepEvery is how often, at most, a full table looks for idle
	// pairs: those not reported since the previous sweep are dropped, so
	// a pair is idle at least this long before it goes (Prometheus reads
	// its return as a counter reset).
	appSweepEvery = 10 * time.Minute
)

// AppBytes is one probe's bytes of one application since this process
// started: the bytecount of every accepted format 99 report whose path
// ends in App (MMT's application, the leaf of the path), as /traffic/
// protocols?by=app sums them.
type AppBytes struct {
	Probe, App uint32
	Bytes      uint64
}

type appKey struct{ probe, app uint32 }

type appCount struct {
	bytes uint64
	gen   uint32 // the sweep generation of the last report
}

// appBytes counts format 99 bytes per (probe, application) as reports
// are accepted: a map operation per report (a probe reports each path it
// touched once per period), which is cheaper than keeping running totals
// per packet in the probe and sees the reports of other probes too.
type appBytes struct {
	m         map[appKey]*appCount
	gen       uint32
	lastSweep time.Time
	overflow  uint64 // reports not counted: the table was full
}

// add counts r; called under the Store's pendMu.
func (a *appBytes) add(r *probe.StatRow, now func() time.Time) {
	k := appKey{r.Probe, r.App}
	if c := a.m[k]; c != nil {
		c.bytes += r.Bytes
		c.gen = a.gen
		return
	}
	if a.m == nil {
		a.m = make(map[appKey]*appCount)
	}
	if len(a.m) >= MaxAppSeries && !a.sweep(now()) {
		a.overflow++
		return
	}
	a.m[k] = &appCount{bytes: r.Bytes, gen: a.gen}
}

// sweep drops the pairs not reported since the previous sweep, at most
// once per appSweepEvery, and reports whether there is room now.
func (a *appBytes) sweep(now time.Time) bool {
	if now.Sub(a.lastSweep) >= appSweepEvery {
		for k, c := range a.m {
			if c.gen != a.gen {
				delete(a.m, k)
			}
		}
		a.gen++
		a.lastSweep = now
	}
	return len(a.m) < MaxAppSeries
}

// AppBytes appends the per-application byte counters to dst, in no
// particular order, and returns how many reports the bound left out.
func (s *Store) AppBytes(dst []AppBytes) ([]AppBytes, uint64) {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	for k, c := range s.apps.m {
		dst = append(dst, AppBytes{Probe: k.probe, App: k.app, Bytes: c.bytes})
	}
	return dst, s.apps.overflow
}
