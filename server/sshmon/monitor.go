package sshmon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// MonitorConfig configures a Monitor.
type MonitorConfig struct {
	Interval     time.Duration // between snapshots of a host; default 1s
	CPUInfoEvery time.Duration // cpu_info is sent this often (and to every new watcher); default 60s
	MaxTargets   int           // hosts monitored at once; default 256
	MaxBackoff   time.Duration // between reconnects; default 30s
	Pool         *Pool
	Log          *slog.Logger
}

// A Subscriber gets a watched host's notifications; it must not block
// (the /monitor connection queues them and drops a client that stops
// reading).
type Subscriber interface {
	Notify(msg []byte)
}

// Monitor runs one watch per monitored host, shared by every subscriber
// watching it.
type Monitor struct {
	cfg MonitorConfig
	log *slog.Logger

	mu      sync.Mutex
	watches map[string]*watch
	wg      sync.WaitGroup
	closed  bool
}

// NewMonitor returns a Monitor using cfg.Pool for its connections.
func NewMonitor(cfg MonitorConfig) *Monitor {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.CPUInfoEvery <= 0 {
		cfg.CPUInfoEvery = time.Minute
	}
	if cfg.MaxTargets <= 0 {
		cfg.MaxTargets = 256
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Monitor{cfg: cfg, log: cfg.Log, watches: map[string]*watch{}}
}

// watch is one monitored host.
type watch struct {
	m      *Monitor
	target Target
	key    string
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	subs     map[Subscriber]bool
	conn     *Conn
	cpuInfo  bool // the next snapshot includes /proc/cpuinfo
	lastInfo time.Time
}

// ErrTooManyTargets is returned past MaxTargets.
var ErrTooManyTargets = errors.New("sshmon: too many monitored hosts")

// Start makes sub a watcher of t. The first watcher connects (so that a
// wrong password or a changed host key is the caller's error); later ones
// share the connection once their secrets are proven (the same as the
// first's, or a login of their own) and get cpu_info at the next tick.
func (m *Monitor) Start(ctx context.Context, t Target, sub Subscriber) error {
	key := t.SSHKey()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errors.New("sshmon: shutting down")
	}
	if w, ok := m.watches[key]; ok {
		m.mu.Unlock()
		// A new watcher proves its secrets: the pool shares the
		// connection with the same ones, and logs in once with others.
		conn, err := m.cfg.Pool.Acquire(ctx, t)
		if err != nil {
			return err
		}
		conn.Release()
		w.mu.Lock()
		w.subs[sub] = true
		w.cpuInfo = true
		w.mu.Unlock()
		return nil
	}
	if len(m.watches) >= m.cfg.MaxTargets {
		m.mu.Unlock()
		return fmt.Errorf("%w (%d)", ErrTooManyTargets, m.cfg.MaxTargets)
	}
	m.mu.Unlock()
	conn, err := m.cfg.Pool.Acquire(ctx, t)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if w, ok := m.watches[key]; ok { // another Start won the race
		conn.Release()
		w.mu.Lock()
		w.subs[sub] = true
		w.cpuInfo = true
		w.mu.Unlock()
		return nil
	}
	if len(m.watches) >= m.cfg.MaxTargets { // others started while we dialled
		conn.Release()
		return fmt.Errorf("%w (%d)", ErrTooManyTargets, m.cfg.MaxTargets)
	}
	wctx, cancel := context.WithCancel(context.Background())
	w := &watch{m: m, target: t, key: key, cancel: cancel, done: make(chan struct{}),
		subs: map[Subscriber]bool{sub: true}, conn: conn, cpuInfo: true}
	m.watches[key] = w
	m.wg.Add(1)
	go w.run(wctx)
	w.notify("connected", map[string]any{"ssh_key": key})
	return nil
}

// Stop removes sub from t's watchers; the last one stops the watch and
// releases the connection. It reports whether sub was watching.
func (m *Monitor) Stop(t Target, sub Subscriber) bool {
	key := t.SSHKey()
	m.mu.Lock()
	w, ok := m.watches[key]
	if !ok {
		m.mu.Unlock()
		return false
	}
	w.mu.Lock()
	was := w.subs[sub]
	delete(w.subs, sub)
	last := len(w.subs) == 0
	w.mu.Unlock()
	if last {
		delete(m.watches, key)
	}
	m.mu.Unlock()
	if last {
		w.cancel()
		<-w.done
	}
	return was
}

// Leave removes sub from every watch (its connection closed).
func (m *Monitor) Leave(sub Subscriber) {
	m.mu.Lock()
	var targets []Target
	for _, w := range m.watches {
		w.mu.Lock()
		if w.subs[sub] {
			targets = append(targets, w.target)
		}
		w.mu.Unlock()
	}
	m.mu.Unlock()
	for _, t := range targets {
		m.Stop(t, sub)
	}
}

// Watching lists the monitored hosts.
func (m *Monitor) Watching() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.watches))
	for k := range m.watches {
		out = append(out, k)
	}
	return out
}

// Targets counts the monitored hosts.
func (m *Monitor) Targets() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.watches)
}

// Close stops every watch and waits for them.
func (m *Monitor) Close() {
	m.mu.Lock()
	m.closed = true
	ws := make([]*watch, 0, len(m.watches))
	for k, w := range m.watches {
		ws = append(ws, w)
		delete(m.watches, k)
	}
	m.mu.Unlock()
	for _, w := range ws {
		w.cancel()
	}
	m.wg.Wait()
}

// notification is one JSON-RPC notification of the Argusyes interface.
func notification(event string, message any) ([]byte, error) {
	return json.Marshal(struct {
		ID     any    `json:"id"`
		Method string `json:"method"`
		Params []any  `json:"params"`
	}{nil, "ssh.notification", []any{struct {
		Event   string `json:"event"`
		Message any    `json:"message"`
	}{event, message}}})
}

func (w *watch) notify(event string, message any) {
	b, err := notification(event, message)
	if err != nil {
		w.m.log.Warn("sshmon: encoding a notification", "event", event, "err", err)
		return
	}
	w.mu.Lock()
	subs := make([]Subscriber, 0, len(w.subs))
	for s := range w.subs {
		subs = append(subs, s)
	}
	w.mu.Unlock()
	for _, s := range subs {
		s.Notify(b)
	}
}

// run takes a snapshot every Interval until ctx ends; a failure closes the
// connection, says `disconnected`, and reconnects with exponential
// backoff, saying `connected` again.
func (w *watch) run(ctx context.Context) {
	defer w.m.wg.Done()
	defer close(w.done)
	defer func() {
		w.mu.Lock()
		if w.conn != nil {
			w.conn.Release()
			w.conn = nil
		}
		w.mu.Unlock()
	}()
	col := NewCollector(w.key)
	t := time.NewTicker(w.m.cfg.Interval)
	defer t.Stop()
	backoff := time.Duration(0)
	for {
		if err := w.tick(ctx, col); err != nil && ctx.Err() == nil {
			w.m.log.Info("sshmon: host lost", "host", w.key, "err", err)
			w.notify("disconnected", map[string]any{"ssh_key": w.key, "error": err.Error()})
			w.mu.Lock()
			if w.conn != nil {
				w.conn.Broken()
				w.conn.Release()
				w.conn = nil
			}
			w.mu.Unlock()
			for {
				backoff = min(max(2*backoff, time.Second), w.m.cfg.MaxBackoff)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				conn, err := w.m.cfg.Pool.Acquire(ctx, w.target)
				if err != nil {
					w.m.log.Debug("sshmon: reconnect failed", "host", w.key, "err", err, "next_in", backoff)
					continue
				}
				w.mu.Lock()
				w.conn, w.cpuInfo = conn, true
				w.mu.Unlock()
				col = NewCollector(w.key) // counters may have been reset by a reboot
				w.notify("connected", map[string]any{"ssh_key": w.key})
				backoff = 0
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tick takes one snapshot and sends its events.
func (w *watch) tick(ctx context.Context, col *Collector) error {
	w.mu.Lock()
	conn := w.conn
	withInfo := w.cpuInfo || time.Since(w.lastInfo) >= w.m.cfg.CPUInfoEvery
	w.mu.Unlock()
	if conn == nil {
		return errors.New("not connected")
	}
	out, err := conn.Run(ctx, Script(withInfo))
	if err != nil {
		return err
	}
	snap, err := ParseSnapshot(out)
	if err != nil {
		return fmt.Errorf("the host's answer: %w", err)
	}
	events, err := col.Collect(snap, time.Now())
	if err != nil {
		w.m.log.Debug("sshmon: some events failed", "host", w.key, "err", err)
	}
	if withInfo {
		w.mu.Lock()
		w.cpuInfo, w.lastInfo = false, time.Now()
		w.mu.Unlock()
	}
	for _, ev := range events {
		w.notify(ev.Name, ev.Message)
	}
	return nil
}
