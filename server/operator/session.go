// Package operator runs the Operator's sessions inside the process: a
// packet source (the emulator, or a running probe's packets) feeding a
// stream server and, for a segmented session, a segmentation server. The
// original started three Docker containers on a Docker network per
// session; here they are supervised goroutines with their own listeners.
package operator

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"edgestat/probe"
	"edgestat/probe/emulator"
	"edgestat/proc"
	"edgestat/server/probes"
	"edgestat/server/store"
)

// Config of a Manager. Zero fields take the defaults.
type Config struct {
	Dir            string        // where segments go: DATA/sessions
	StreamHost     string        // address stream servers listen on; default 127.0.0.1
	MaxSessions    int           // sessions holding workers at once; default 16
	MaxCount       int           // largest count; default 10,000,000
	SegmentPackets int           // packets per segment; default 10,000
	SegmentAge     time.Duration // or seconds per segment; default 10s
	SegmentBytes   int64         // bytes of segments per session; default 256 MiB
	StartTimeout   time.Duration // an emulator waits this long for its first stream client; default 30s
	Grace          time.Duration // a finished session is listed this long; default 5m
	Retention      time.Duration // its segment files are kept this long; default 1h
	MaxCPU         float64       // refuse sessions while the CPUs are busier; default 0.95, over 1: never
	MinMemory      uint64        // ... or while less memory is available; default 32 MiB
	MinDisk        uint64        // ... or while less disk is free in Dir; default 64 MiB
	FirstProbeID   uint32        // session probes' ids count up from here; default 1000
	EmulatorRate   float64       // packet time rate of session emulators; default 10,000/s
	Sink           probe.Sink    // the reports of session probes (the traffic store)
	Probes         *probes.Registry
	DB             *sql.DB
	Wear           func() store.Wear // the database's writes, for /resources; may be nil
	Proc           proc.Source       // /proc for the resources; default proc.FS("/")
	Log            *slog.Logger
}

func (c *Config) defaults() {
	set := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	setD := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	if c.StreamHost == "" {
		c.StreamHost = "127.0.0.1"
	}
	set(&c.MaxSessions, 16)
	set(&c.MaxCount, 10_000_000)
	set(&c.SegmentPackets, 10_000)
	setD(&c.SegmentAge, 10*time.Second)
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = 256 << 20
	}
	setD(&c.StartTimeout, 30*time.Second)
	setD(&c.Grace, 5*time.Minute)
	if c.Retention < 0 {
		c.Retention = 0
	} else if c.Retention == 0 {
		c.Retention = time.Hour
	}
	if c.MaxCPU <= 0 {
		c.MaxCPU = 0.95
	}
	if c.MinMemory == 0 {
		c.MinMemory = 32 << 20
	}
	if c.MinDisk == 0 {
		c.MinDisk = 64 << 20
	}
	if c.FirstProbeID == 0 {
		c.FirstProbeID = 1000
	}
	if c.EmulatorRate <= 0 {
		c.EmulatorRate = 10_000
	}
	if c.Proc == nil {
		c.Proc = proc.FS("/")
	}
	if c.Probes == nil {
		c.Probes = probes.New()
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Session states.
const (
	StateWaiting  = "waiting"  // its stream waits for a first client
	StateRunning  = "running"  // packets flow
	StateFinished = "finished" // all its packets were sent
	StateStopped  = "stopped"  // DELETE ended it
	StateFailed   = "failed"   // a worker failed
	StateAborted  = "aborted"  // it was running when the process died
)

func final(state string) bool {
	return state != StateWaiting && state != StateRunning
}

// A Request starts a session: Count packets from a new emulator, or the
// packets of the running probe Probe (until Count packets or Duration).
type Request struct {
	Count       int
	PlainStream bool
	Probe       *uint32
	Duration    time.Duration
}

// Session is one pipeline.
type Session struct {
	m        *Manager
	ID       string
	Network  string
	workers  [3]string // probe, stream, segmentation ("" for a plain stream)
	probeID  uint32
	kind     string // emulator or probe
	count    int
	duration time.Duration
	created  time.Time
	dir      string

	stream *Stream
	seg    *Segmenter
	entry  *probes.Entry // the session's own probe, for an emulator session
	cancel context.CancelFunc
	done   chan struct{}
	sent   atomic.Uint64

	// workMu orders packets against the end; it is held while a blocking
	// stream waits for its readers, so nothing else takes it.
	workMu     sync.Mutex
	closed     bool // no more packets go to the workers
	segStopped bool // the segmenter failed (its bound): the stream goes on

	mu    sync.Mutex
	state string
	err   string
	ended time.Time
}

// Info is a session as the API shows it.
type Info struct {
	SessionID    string        `json:"session_id"`
	Network      string        `json:"network"`
	Probe        string        `json:"probe"`
	Stream       string        `json:"stream"`
	Segmentation *string       `json:"segmentation"`
	ProbeID      uint32        `json:"probe_id"` // an emulator session: its reports' probe column; else the probe streamed
	Kind         string        `json:"kind"`
	State        string        `json:"state"`
	Error        string        `json:"error,omitempty"`
	Count        int           `json:"count"`
	DurationMS   int64         `json:"duration_ms,omitempty"`
	Packets      uint64        `json:"packets"` // packets handed to the stream so far
	Clients      int           `json:"clients"` // stream clients connected now
	Served       uint64        `json:"served"`  // stream clients ever
	Dropped      uint64        `json:"dropped"` // stream clients dropped as too slow
	Location     string        `json:"location"`
	Segments     string        `json:"segments,omitempty"` // URL path listing the segments
	SegmentFiles []SegmentInfo `json:"segment_files,omitempty"`
	Created      int64         `json:"created"`
	Ended        int64         `json:"ended,omitempty"`
}

// Manager owns the sessions, their records and the janitor.
type Manager struct {
	cfg Config
	log *slog.Logger
	res *resourceReader

	mu       sync.Mutex
	sessions map[string]*Session
	nextID   uint32
	wg       sync.WaitGroup // session goroutines
	stopping bool

	started atomic.Uint64 // sessions started, for /metrics
	files   filesCache
}

// ErrBusy wraps the reasons admission control refuses a session.
var ErrBusy = errors.New("operator: no room for a session")

// New opens the Manager: sessions that were running when the process died
// are marked aborted and their files deleted.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	cfg.defaults()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("operator: %w", err)
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("operator: %w", err)
	}
	cfg.Dir = abs
	m := &Manager{cfg: cfg, log: cfg.Log, sessions: map[string]*Session{}, nextID: cfg.FirstProbeID,
		res: &resourceReader{src: cfg.Proc, dir: abs}}
	if err := m.recover(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// recover marks the sessions the last process left running as aborted and
// frees their files.
func (m *Manager) recover(ctx context.Context) error {
	rows, err := m.cfg.DB.QueryContext(ctx, `SELECT id, dir FROM sessions WHERE state IN (?, ?)`, StateWaiting, StateRunning)
	if err != nil {
		return fmt.Errorf("operator: read sessions: %w", err)
	}
	type dead struct{ id, dir string }
	var ds []dead
	for rows.Next() {
		var d dead
		if err := rows.Scan(&d.id, &d.dir); err != nil {
			rows.Close()
			return fmt.Errorf("operator: read sessions: %w", err)
		}
		ds = append(ds, d)
	}
	rows.Close()
	now := time.Now().UnixMilli()
	for _, d := range ds {
		if err := m.removeDir(d.dir); err != nil {
			m.log.Warn("operator: removing an aborted session's files", "session", d.id, "err", err)
		}
		if _, err := m.cfg.DB.ExecContext(ctx, `UPDATE sessions SET state = ?, ended = ?, error = ?, files_deleted = 1 WHERE id = ?`,
			StateAborted, now, "the process stopped while the session ran", d.id); err != nil {
			return fmt.Errorf("operator: mark session %s aborted: %w", d.id, err)
		}
		m.log.Info("operator: session aborted by the last shutdown", "session", d.id)
	}
	// Directories no record knows (a crash between mkdir and the record).
	entries, err := os.ReadDir(m.cfg.Dir)
	if err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	for _, e := range entries {
		var known int
		if err := m.cfg.DB.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE id = ? AND files_deleted = 0`, e.Name()).Scan(&known); err != nil {
			return fmt.Errorf("operator: read sessions: %w", err)
		}
		if known == 0 {
			_ = os.RemoveAll(filepath.Join(m.cfg.Dir, e.Name()))
		}
	}
	return nil
}

// removeDir deletes a session's directory, which must be inside Dir.
func (m *Manager) removeDir(dir string) error {
	if dir == "" {
		return nil
	}
	if rel, err := filepath.Rel(m.cfg.Dir, dir); err != nil || rel == "." || strings.HasPrefix(rel, "..") || strings.ContainsRune(rel, filepath.Separator) {
		return fmt.Errorf("operator: %q is not a session directory", dir)
	}
	return os.RemoveAll(dir)
}

func randomHex(n int, upper bool) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	s := hex.EncodeToString(b)[:n]
	if upper {
		s = strings.ToUpper(s)
	}
	return s
}

// Resources reads the host and the sessions' use of it.
func (m *Manager) Resources() Resources {
	res, err := m.res.read()
	if err != nil {
		res.Error = err.Error()
	}
	m.mu.Lock()
	for _, s := range m.sessions {
		s.mu.Lock()
		if !final(s.state) {
			res.Sessions++
			res.Ports++
		}
		s.mu.Unlock()
	}
	m.mu.Unlock()
	res.SessionFiles = dirBytes(m.cfg.Dir)
	res.Limits = m.limits()
	if m.cfg.Wear != nil {
		w := m.cfg.Wear()
		res.DBWrittenToday, res.DBWrittenSinceStart = w.Today, w.SinceStart
	}
	return res
}

func (m *Manager) limits() Limits {
	return Limits{MaxSessions: m.cfg.MaxSessions, MaxPorts: m.cfg.MaxSessions, MaxCount: m.cfg.MaxCount,
		MaxCPU: m.cfg.MaxCPU, MinMemory: m.cfg.MinMemory, MinDisk: m.cfg.MinDisk}
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// admit checks the limits and the host; called under m.mu.
func (m *Manager) admit(segmented bool) error {
	if m.stopping {
		return fmt.Errorf("%w: the server is shutting down", ErrBusy)
	}
	active := 0
	for _, s := range m.sessions {
		s.mu.Lock()
		if !final(s.state) {
			active++
		}
		s.mu.Unlock()
	}
	if active >= m.cfg.MaxSessions {
		return fmt.Errorf("%w: %d sessions run, the limit is %d (and with it the stream ports)", ErrBusy, active, m.cfg.MaxSessions)
	}
	res, err := m.res.read()
	if err != nil {
		return fmt.Errorf("%w: cannot read the host's resources: %v", ErrBusy, err)
	}
	switch {
	case res.CPU > m.cfg.MaxCPU:
		return fmt.Errorf("%w: the CPUs are %.0f%% busy, the limit is %.0f%%", ErrBusy, 100*res.CPU, 100*m.cfg.MaxCPU)
	case res.MemAvailable < m.cfg.MinMemory:
		return fmt.Errorf("%w: %d MiB of memory available, %d MiB needed", ErrBusy, res.MemAvailable>>20, m.cfg.MinMemory>>20)
	case segmented && res.DiskFree < m.cfg.MinDisk:
		return fmt.Errorf("%w: %d MiB free in %s, %d MiB needed", ErrBusy, res.DiskFree>>20, m.cfg.Dir, m.cfg.MinDisk>>20)
	}
	return nil
}

// nextProbeID picks an id no probe uses; called under m.mu.
func (m *Manager) nextProbeID() uint32 {
	for m.cfg.Probes.Used(m.nextID) {
		m.nextID++
	}
	id := m.nextID
	m.nextID++
	return id
}

// Start admits and starts a session, or starts nothing: every worker is
// running when it returns without error.
func (m *Manager) Start(ctx context.Context, req Request) (*Session, error) {
	var src probes.Source
	if req.Probe != nil {
		var ok bool
		if src, ok = m.cfg.Probes.Source(*req.Probe); !ok {
			return nil, &FieldError{Field: "probe", Message: fmt.Sprintf("no running probe has id %d (see GET /probes)", *req.Probe)}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.admit(!req.PlainStream); err != nil {
		return nil, err
	}
	s := &Session{
		m: m, ID: randomHex(16, true), Network: "network_" + randomHex(5, true),
		workers: [3]string{randomHex(64, false), randomHex(64, false), ""},
		count:   req.Count, duration: req.Duration, created: time.Now(), state: StateWaiting, done: make(chan struct{}),
	}
	linkType := layers.LinkTypeEthernet
	if src != nil {
		s.kind, s.probeID = "probe", src.ID()
		if lt, ok := src.(interface{ LinkType() layers.LinkType }); ok {
			linkType = lt.LinkType()
		}
	} else {
		s.kind, s.probeID = "emulator", m.nextProbeID()
	}
	undo := func() {
		if s.stream != nil {
			s.stream.Close()
		}
		if s.seg != nil {
			_ = s.seg.Close()
		}
		if s.dir != "" {
			_ = os.RemoveAll(s.dir)
		}
	}
	var err error
	s.stream, err = NewStream(StreamConfig{
		Addr: net.JoinHostPort(m.cfg.StreamHost, "0"), LinkType: linkType,
		Block: src == nil, // an emulator may wait for its readers, a capture may not
		Log:   m.log,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: no port for the stream: %v", ErrBusy, err)
	}
	if !req.PlainStream {
		s.workers[2] = randomHex(64, false)
		s.dir = filepath.Join(m.cfg.Dir, s.ID)
		s.seg, err = NewSegmenter(SegmentConfig{Dir: s.dir, LinkType: linkType, MaxPackets: m.cfg.SegmentPackets,
			MaxAge: m.cfg.SegmentAge, MaxBytes: m.cfg.SegmentBytes, Log: m.log})
		if err != nil {
			undo()
			return nil, fmt.Errorf("operator: segmentation: %w", err)
		}
	}
	var seg sql.NullString
	if s.workers[2] != "" {
		seg = sql.NullString{String: s.workers[2], Valid: true}
	}
	if _, err := m.cfg.DB.ExecContext(ctx, `INSERT INTO sessions(id, network, probe_worker, stream_worker, seg_worker, probe_id, kind,
		count, duration_ms, stream_addr, dir, state, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.Network, s.workers[0], s.workers[1], seg, s.probeID, s.kind, s.count, s.duration.Milliseconds(),
		s.stream.Addr().String(), s.dir, StateWaiting, s.created.UnixMilli()); err != nil {
		undo()
		return nil, fmt.Errorf("operator: record session: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	// Stopping a session closes its stream at once: a blocking stream
	// waiting for a stuck reader would otherwise hold the stop for its
	// stall timeout.
	// The session's goroutine cancels runCtx when it ends, which releases
	// this (Close after End does nothing).
	context.AfterFunc(runCtx, s.stream.Close)
	s.cancel = cancel
	m.sessions[s.ID] = s
	m.wg.Add(1)
	if src != nil {
		go s.runTap(runCtx, src)
	} else {
		var p *probe.Probe
		p, err = s.newProbe()
		if err != nil {
			delete(m.sessions, s.ID)
			m.wg.Done()
			cancel()
			undo()
			_, _ = m.cfg.DB.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, s.ID)
			return nil, fmt.Errorf("operator: session probe: %w", err)
		}
		go s.runEmulator(runCtx, p)
	}
	m.started.Add(1)
	m.log.Info("operator: session started", "session", s.ID, "kind", s.kind, "count", s.count, "stream", s.stream.Addr().String(), "segmented", s.seg != nil)
	return s, nil
}

// newProbe makes an emulator session's probe: the emulator's packets pass
// the stream and the segmenter on their way into the probe pipeline, so
// the session's traffic shows in /traffic/data with its own probe id.
func (s *Session) newProbe() (*probe.Probe, error) {
	em := emulator.New(emulator.Options{Count: s.count, Rate: s.m.cfg.EmulatorRate, Start: time.Now(),
		Seed: uint64(time.Now().UnixNano()), Name: "session-" + s.ID})
	p, err := probe.New(&teeInput{Input: em, s: s}, probe.Options{ID: s.probeID, Sink: s.m.cfg.Sink})
	if err != nil {
		em.Close()
		return nil, err
	}
	s.entry = s.m.cfg.Probes.Add(p, "session", s.ID)
	return p, nil
}

// teeInput hands every packet to the session's workers before the probe
// decodes it.
type teeInput struct {
	probe.Input
	s *Session
}

func (t *teeInput) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := t.Input.ReadPacket()
	if err == nil {
		t.s.packet(data, ci)
	}
	return data, ci, err
}

// packet gives one packet to the stream and the segmenter.
func (s *Session) packet(data []byte, ci gopacket.CaptureInfo) {
	s.workMu.Lock()
	defer s.workMu.Unlock()
	if s.closed || s.count > 0 && s.sent.Load() >= uint64(s.count) {
		return // a probe's tap runs on a moment after the limit
	}
	s.stream.Packet(ci, data)
	if s.seg != nil && !s.segStopped {
		if err := s.seg.Packet(ci, data); err != nil {
			s.m.log.Warn("operator: segmentation stopped", "session", s.ID, "err", err)
			_ = s.seg.Close()
			s.segStopped = true
			s.mu.Lock()
			s.err = "segmentation stopped: " + err.Error()
			s.mu.Unlock()
		}
	}
	s.sent.Add(1)
}

func (s *Session) setState(state string) {
	s.mu.Lock()
	s.state = state
	s.mu.Unlock()
}

// runEmulator waits for the first stream client (so that it gets every
// packet), then runs the probe over the emulator to its count.
func (s *Session) runEmulator(ctx context.Context, p *probe.Probe) {
	defer s.m.wg.Done()
	defer close(s.done)
	defer s.cancel()
	wait, cancel := context.WithTimeout(ctx, s.m.cfg.StartTimeout)
	connected := s.stream.WaitClient(wait)
	cancel()
	if ctx.Err() != nil {
		s.finish(StateStopped, nil)
		return
	}
	if !connected {
		s.m.log.Info("operator: no stream client came; the session runs without one", "session", s.ID)
	}
	s.setState(StateRunning)
	s.m.record(s)
	err := p.Run(ctx)
	switch {
	case ctx.Err() != nil:
		s.finish(StateStopped, nil)
	case err != nil:
		s.finish(StateFailed, err)
	default:
		s.finish(StateFinished, nil)
	}
}

// runTap streams a running probe's packets until the count, the duration,
// the probe's end or DELETE.
func (s *Session) runTap(ctx context.Context, src probes.Source) {
	defer s.m.wg.Done()
	defer close(s.done)
	defer s.cancel()
	full := make(chan struct{})
	var once sync.Once
	// As for an emulator: the first client gets the session's packets
	// from the first one (nc box PORT | wireshark -k -i -).
	wait, cancel := context.WithTimeout(ctx, s.m.cfg.StartTimeout)
	s.stream.WaitClient(wait)
	cancel()
	if ctx.Err() != nil {
		s.finish(StateStopped, nil)
		return
	}
	s.setState(StateRunning)
	s.m.record(s)
	remove := src.Tap(func(data []byte, ci gopacket.CaptureInfo) {
		s.packet(data, ci)
		if s.count > 0 && s.sent.Load() >= uint64(s.count) {
			once.Do(func() { close(full) })
		}
	})
	var limit <-chan time.Time
	if s.duration > 0 {
		t := time.NewTimer(s.duration)
		defer t.Stop()
		limit = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	state := StateFinished
loop:
	for {
		select {
		case <-ctx.Done():
			state = StateStopped
			break loop
		case <-full:
			break loop
		case <-limit:
			break loop
		case <-tick.C:
			if _, ok := s.m.cfg.Probes.Source(src.ID()); !ok {
				break loop // the probe ended
			}
		}
	}
	remove()
	s.finish(state, nil)
}

// finish stops the workers: the segmenter writes its last segment, the
// stream lets its clients drain, then closes.
func (s *Session) finish(state string, err error) {
	s.workMu.Lock()
	s.closed = true
	s.workMu.Unlock()
	if s.seg != nil {
		if cerr := s.seg.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	// A finished session's readers get all of it while they keep reading (a
	// Wireshark over a slow link: 4 MiB queued at 100 KiB/s takes 40 s); a
	// stopped one ends now.
	drain := streamMaxDrain
	if state == StateStopped {
		drain = time.Second
	}
	s.stream.End(drain)
	if s.entry != nil {
		s.entry.End()
	}
	s.mu.Lock()
	s.state, s.ended = state, time.Now()
	if err != nil {
		s.err = err.Error()
	}
	s.mu.Unlock()
	s.m.record(s)
	s.m.log.Info("operator: session ended", "session", s.ID, "state", state, "packets", s.sent.Load(), "err", err)
}

// record writes a session's state to its row.
func (m *Manager) record(s *Session) {
	s.mu.Lock()
	state, errText, ended := s.state, s.err, s.ended
	s.mu.Unlock()
	segs := 0
	if s.seg != nil {
		segs = len(s.seg.Segments())
	}
	var endedMS any
	if !ended.IsZero() {
		endedMS = ended.UnixMilli()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.cfg.DB.ExecContext(ctx, `UPDATE sessions SET state = ?, packets = ?, segments = ?, error = ?, ended = ? WHERE id = ?`,
		state, int64(s.sent.Load()), segs, errText, endedMS, s.ID); err != nil {
		m.log.Warn("operator: recording a session", "session", s.ID, "err", err)
	}
}

// Get returns a listed session.
func (m *Manager) Get(id string) (*Session, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	return s, ok
}

// List returns the listed sessions, oldest first.
func (m *Manager) List() []*Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		out = append(out, s)
	}
	sortSessions(out)
	return out
}

// Delete stops a session, waits for its workers, removes its files and
// takes it off the list; its record stays.
func (m *Manager) Delete(id string) bool {
	m.mu.Lock()
	s, ok := m.sessions[id]
	if ok {
		delete(m.sessions, id)
	}
	m.mu.Unlock()
	if !ok {
		return false
	}
	s.cancel()
	<-s.done
	m.forget(s)
	return true
}

// forget frees what a session that ended still holds: its probe's entry
// and its files.
func (m *Manager) forget(s *Session) {
	if s.entry != nil {
		s.entry.Remove()
	}
	if s.dir != "" {
		if err := m.removeDir(s.dir); err != nil {
			m.log.Warn("operator: removing session files", "session", s.ID, "err", err)
		}
		if _, err := m.cfg.DB.Exec(`UPDATE sessions SET files_deleted = 1 WHERE id = ?`, s.ID); err != nil {
			m.log.Warn("operator: recording a session", "session", s.ID, "err", err)
		}
	}
}

// Run is the janitor: every minute it reaps sessions that ended more than
// Grace ago and deletes segment files older than Retention. When ctx ends
// it stops every session and returns once their workers are gone.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.mu.Lock()
			m.stopping = true
			ss := make([]*Session, 0, len(m.sessions))
			for _, s := range m.sessions {
				ss = append(ss, s)
			}
			m.mu.Unlock()
			for _, s := range ss {
				s.cancel()
			}
			m.wg.Wait()
			return
		case now := <-t.C:
			m.Sweep(ctx, now)
		}
	}
}

// Sweep is one pass of the janitor.
func (m *Manager) Sweep(ctx context.Context, now time.Time) {
	m.mu.Lock()
	var reap []*Session
	for id, s := range m.sessions {
		s.mu.Lock()
		if final(s.state) && now.Sub(s.ended) >= m.cfg.Grace {
			reap = append(reap, s)
			delete(m.sessions, id)
		}
		s.mu.Unlock()
	}
	m.mu.Unlock()
	for _, s := range reap {
		<-s.done
		if s.entry != nil {
			s.entry.Remove()
		}
		m.log.Debug("operator: session reaped", "session", s.ID)
	}
	// Files of ended sessions past their retention, listed or not.
	rows, err := m.cfg.DB.QueryContext(ctx, `SELECT id, dir FROM sessions WHERE files_deleted = 0 AND dir != '' AND ended IS NOT NULL AND ended <= ?`,
		now.Add(-m.cfg.Retention).UnixMilli())
	if err != nil {
		m.log.Warn("operator: janitor", "err", err)
		return
	}
	type old struct{ id, dir string }
	var olds []old
	for rows.Next() {
		var o old
		if err := rows.Scan(&o.id, &o.dir); err == nil {
			olds = append(olds, o)
		}
	}
	rows.Close()
	for _, o := range olds {
		if err := m.removeDir(o.dir); err != nil {
			m.log.Warn("operator: janitor", "session", o.id, "err", err)
			continue
		}
		if _, err := m.cfg.DB.ExecContext(ctx, `UPDATE sessions SET files_deleted = 1 WHERE id = ?`, o.id); err != nil {
			m.log.Warn("operator: janitor", "session", o.id, "err", err)
		}
	}
}

// Info describes a session; host is where clients reach this box.
func (s *Session) Info(host string) Info {
	st := s.stream.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	in := Info{
		SessionID: s.ID, Network: s.Network, Probe: s.workers[0], Stream: s.workers[1], ProbeID: s.probeID, Kind: s.kind,
		State: s.state, Error: s.err, Count: s.count, DurationMS: s.duration.Milliseconds(), Packets: s.sent.Load(),
		Clients: st.Clients, Served: st.Served, Dropped: st.Dropped, Created: s.created.UnixMilli(),
		Location: "tcp://" + s.location(host),
	}
	if s.workers[2] != "" {
		w := s.workers[2]
		in.Segmentation = &w
		in.Segments = "/sessions/" + s.ID + "/segments"
		in.SegmentFiles = s.seg.Segments()
	}
	if !s.ended.IsZero() {
		in.Ended = s.ended.UnixMilli()
	}
	return in
}

// location is the stream's host:port as a client should dial it: the
// listener's address, or host when it listens on every address.
func (s *Session) location(host string) string {
	addr := s.stream.Addr().(*net.TCPAddr)
	if addr.IP.IsUnspecified() && host != "" {
		return net.JoinHostPort(host, fmt.Sprint(addr.Port))
	}
	return addr.String()
}

// OpenSegment opens one of a session's segment files for download.
func (s *Session) OpenSegment(name string) (*os.File, error) {
	if s.seg == nil {
		return nil, fmt.Errorf("segment %q: a plain stream has none: %w", name, os.ErrNotExist)
	}
	return s.seg.Open(name)
}
