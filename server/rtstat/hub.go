package rtstat

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"edgestat/server/wire"
)

// A Frame is one Push, encoded once per tick for every transport and shared
// read-only by every subscriber of the tick.
type Frame struct {
	Raw []byte // "Push::<json>\n" for raw TCP
	WS  []byte // a whole WebSocket text frame carrying "Push::<json>"
}

// A Subscriber receives the frames of its interval group. Push must not
// block: the hub calls it from the group's clock.
type Subscriber interface {
	Push(f *Frame)
}

// ErrTooManyIntervals is returned when a new interval group would exceed
// the hub's bound.
var ErrTooManyIntervals = errors.New("too many distinct intervals in use")

// MaxGroups bounds the distinct intervals collected at once; each has its
// own clock and plugin state.
const MaxGroups = 64

// The Hub shares one collection per tick among every client on the same
// interval: clients are grouped by interval, each group has one clock, one
// set of plugins and one encoded frame per tick.
type Hub struct {
	factory Factory
	log     *slog.Logger
	ctx     context.Context

	mu     sync.Mutex
	groups map[time.Duration]*group
	wg     sync.WaitGroup

	ticks       atomic.Uint64
	collectErrs atomic.Uint64
}

// NewHub returns a hub whose groups live until ctx ends.
func NewHub(ctx context.Context, factory Factory, log *slog.Logger) *Hub {
	return &Hub{factory: factory, log: log, ctx: ctx, groups: make(map[time.Duration]*group)}
}

type group struct {
	interval time.Duration
	subs     map[Subscriber]struct{}
	stop     context.CancelFunc
}

// Subscribe adds s to the group of interval, starting the group if needed.
// The first frame comes within one interval.
func (h *Hub) Subscribe(interval time.Duration, s Subscriber) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groups[interval]
	if g == nil {
		if len(h.groups) >= MaxGroups {
			return ErrTooManyIntervals
		}
		if h.ctx.Err() != nil {
			return h.ctx.Err()
		}
		ctx, cancel := context.WithCancel(h.ctx)
		g = &group{interval: interval, subs: make(map[Subscriber]struct{}), stop: cancel}
		h.groups[interval] = g
		h.wg.Add(1)
		go h.run(ctx, g)
	}
	g.subs[s] = struct{}{}
	return nil
}

// Unsubscribe removes s from the group of interval; the last one out stops
// the group's clock.
func (h *Hub) Unsubscribe(interval time.Duration, s Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groups[interval]
	if g == nil {
		return
	}
	delete(g.subs, s)
	if len(g.subs) == 0 {
		g.stop()
		delete(h.groups, interval)
	}
}

// Wait returns when every group's goroutine has ended (after ctx is done).
func (h *Hub) Wait() { h.wg.Wait() }

// Groups is the number of intervals being collected.
func (h *Hub) Groups() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.groups)
}

// Ticks counts collections since start, over every group.
func (h *Hub) Ticks() uint64 { return h.ticks.Load() }

// CollectErrors counts plugin failures since start (each gave an error
// value in its push).
func (h *Hub) CollectErrors() uint64 { return h.collectErrs.Load() }

func (h *Hub) run(ctx context.Context, g *group) {
	defer h.wg.Done()
	c := newCollector(h.factory())
	c.log = h.log.With("interval", g.interval.String())
	ticker := time.NewTicker(g.interval)
	defer ticker.Stop()
	var subs []Subscriber
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			f, errs := c.collect(ctx, now)
			h.ticks.Add(1)
			if errs > 0 {
				h.collectErrs.Add(uint64(errs))
			}
			subs = subs[:0]
			h.mu.Lock()
			for s := range g.subs {
				subs = append(subs, s)
			}
			h.mu.Unlock()
			for _, s := range subs {
				s.Push(f)
			}
			clear(subs)
		}
	}
}

// collector builds the Push of one group.
type collector struct {
	plugins []Plugin
	bufs    [][]byte // per plugin, reused
	errs    []error
	logged  []string // the last error logged per plugin: a failure is logged when it starts or changes, not every tick
	json    []byte
	log     *slog.Logger
}

func newCollector(plugins []Plugin) *collector {
	n := len(plugins)
	return &collector{plugins: plugins, bufs: make([][]byte, n), errs: make([]error, n), logged: make([]string, n), log: slog.Default()}
}

// Concurrent is implemented by plugins that may be slow (external commands):
// they run beside the others instead of delaying them.
type Concurrent interface {
	Concurrent() bool
}

// collect runs every plugin once and encodes the Push for both transports.
// A failing plugin yields {"error":"..."} for its key.
func (c *collector) collect(ctx context.Context, now time.Time) (*Frame, int) {
	var wg sync.WaitGroup
	for i, p := range c.plugins {
		if cp, ok := p.(Concurrent); ok && cp.Concurrent() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.bufs[i], c.errs[i] = p.Collect(ctx, c.bufs[i][:0], now)
			}()
		}
	}
	for i, p := range c.plugins {
		if cp, ok := p.(Concurrent); ok && cp.Concurrent() {
			continue
		}
		c.bufs[i], c.errs[i] = p.Collect(ctx, c.bufs[i][:0], now)
	}
	wg.Wait()

	errs := 0
	j := append(c.json[:0], '{')
	for i, p := range c.plugins {
		if i > 0 {
			j = append(j, ',')
		}
		j = appendJSONString(j, p.Name())
		j = append(j, ':')
		if c.errs[i] == nil && c.logged[i] != "" {
			c.log.Info("plugin recovered", "plugin", p.Name())
			c.logged[i] = ""
		}
		if c.errs[i] != nil {
			if text := c.errs[i].Error(); text != c.logged[i] {
				c.log.Warn("plugin failed", "plugin", p.Name(), "err", text)
				c.logged[i] = text
			}
			errs++
			j = append(j, `{"error":`...)
			j = appendJSONString(j, c.errs[i].Error())
			j = append(j, '}')
			continue
		}
		j = append(j, c.bufs[i]...)
	}
	j = append(j, '}')
	c.json = j
	return encodePush(j), errs
}

// encodePush makes the shared frame. Each tick gets fresh slices because
// subscribers may still be writing the previous one.
func encodePush(json []byte) *Frame {
	msg := make([]byte, 0, len(json)+len(json)/64+16)
	msg = append(msg, "Push"+Sep...)
	msg = AppendEscaped(msg, json)
	raw := make([]byte, len(msg)+1)
	copy(raw, msg)
	raw[len(msg)] = '\n'
	wsf := wire.AppendTextFrameHeader(make([]byte, 0, len(msg)+10), len(msg))
	wsf = append(wsf, msg...)
	return &Frame{Raw: raw, WS: wsf}
}
