// Package probes keeps the list of running probes: the appliance's own
// (live captures, replays, the emulator) and those of operator sessions,
// for /probes, /traffic/status and the sessions that stream a probe's
// packets.
package probes

import (
	"sort"
	"sync"
	"time"

	"edgestat/probe"
)

// A Source is a running probe; *probe.Probe is one.
type Source interface {
	ID() uint32
	Source() string
	Counters() probe.Counters
	Tap(fn probe.TapFunc) (remove func())
}

// States of a probe.
const (
	Running = "running"
	Ended   = "ended" // its input ended (a replay done, a session's count sent) or it failed
)

// Status is one probe as the APIs show it.
type Status struct {
	ID            uint32  `json:"id"`
	Kind          string  `json:"kind"`              // capture, replay, emulator or session
	Source        string  `json:"source"`            // the reports' source column
	Session       string  `json:"session,omitempty"` // the operator session that owns it
	State         string  `json:"state"`
	Started       int64   `json:"started"` // ms
	Packets       uint64  `json:"packets"`
	Bytes         uint64  `json:"bytes"`
	PPS           float64 `json:"pps"` // since the previous look, at least a second ago
	BPS           float64 `json:"bps"` // bits per second
	Drops         uint64  `json:"drops"`
	DecodeErrors  uint64  `json:"decode_errors"`
	FlowsActive   uint64  `json:"flows_active"`
	FlowsTotal    uint64  `json:"flows_total"`
	FlowsEvicted  uint64  `json:"flows_evicted"`
	DetailsMissed uint64  `json:"flow_details_missed"`
	Paths         uint64  `json:"paths"`
	PathsOverflow uint64  `json:"paths_overflow"`
	Hosts         uint64  `json:"hosts"`
	HostsEvicted  uint64  `json:"hosts_evicted"`
	PacketTime    int64   `json:"packet_time"` // ms, the latest packet's time
}

// Registry is the list of probes. The zero value is not usable; use New.
type Registry struct {
	mu      sync.Mutex
	entries map[uint32]*Entry
}

// An Entry is a probe in the Registry.
type Entry struct {
	r        *Registry
	p        Source
	kind     string
	session  string
	state    string
	started  time.Time
	prev     probe.Counters
	prevAt   time.Time
	pps, bps float64
}

// New returns an empty Registry.
func New() *Registry { return &Registry{entries: map[uint32]*Entry{}} }

// Add lists a running probe. kind is capture, replay, emulator or session;
// session is the owning operator session, or "".
func (r *Registry) Add(p Source, kind, session string) *Entry {
	now := time.Now()
	e := &Entry{r: r, p: p, kind: kind, session: session, state: Running, started: now, prev: p.Counters(), prevAt: now}
	r.mu.Lock()
	r.entries[p.ID()] = e
	r.mu.Unlock()
	return e
}

// End marks the probe ended; it stays listed.
func (e *Entry) End() {
	e.r.mu.Lock()
	e.state = Ended
	e.r.mu.Unlock()
}

// Remove takes the probe off the list (its session was reaped).
func (e *Entry) Remove() {
	e.r.mu.Lock()
	if e.r.entries[e.p.ID()] == e {
		delete(e.r.entries, e.p.ID())
	}
	e.r.mu.Unlock()
}

// Used reports whether a probe id is taken.
func (r *Registry) Used(id uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.entries[id]
	return ok
}

// Source returns a running probe, for a session that streams it.
func (r *Registry) Source(id uint32) (Source, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if !ok || e.state != Running {
		return nil, false
	}
	return e.p, true
}

// List returns every probe by id; rates are over the time since the
// previous look when that is at least a second.
func (r *Registry) List() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	out := make([]Status, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, e.status(now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Snapshot appends every probe to dst, in no particular order, without
// moving the rates: pps and bps are List's, over the time between its
// looks, so a /metrics scrape does not shorten the UI's interval. Scrapes
// reuse dst.
func (r *Registry) Snapshot(dst []Status) []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.entries {
		dst = append(dst, e.status(time.Time{}))
	}
	return dst
}

// Get returns one probe.
func (r *Registry) Get(id uint32) (Status, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if !ok {
		return Status{}, false
	}
	return e.status(time.Now()), true
}

// status samples e, and moves its rates on when now is a second past the
// previous look (a zero now never does); called under r.mu.
func (e *Entry) status(now time.Time) Status {
	c := e.p.Counters()
	if dt := now.Sub(e.prevAt).Seconds(); !now.IsZero() && dt >= 1 {
		e.pps = float64(c.Packets-e.prev.Packets) / dt
		e.bps = 8 * float64(c.Bytes-e.prev.Bytes) / dt
		e.prev, e.prevAt = c, now
	}
	var decodeErrs uint64
	for _, n := range c.DecodeErrors {
		decodeErrs += n
	}
	st := Status{
		ID: e.p.ID(), Kind: e.kind, Source: e.p.Source(), Session: e.session, State: e.state, Started: e.started.UnixMilli(),
		Packets: c.Packets, Bytes: c.Bytes, PPS: e.pps, BPS: e.bps, Drops: c.Drops, DecodeErrors: decodeErrs,
		FlowsActive: c.FlowsActive, FlowsTotal: c.FlowsTotal, FlowsEvicted: c.FlowsEvicted, DetailsMissed: c.DetailsMissed, Paths: c.Paths,
		PathsOverflow: c.PathsOverflow, Hosts: c.Hosts, HostsEvicted: c.HostsEvicted,
	}
	if e.state != Running {
		st.PPS, st.BPS = 0, 0
	}
	if !c.PacketTime.IsZero() {
		st.PacketTime = c.PacketTime.UnixMilli()
	}
	return st
}
