// Command wsload holds many Rt-Stat WebSocket clients open against one
// edgestat server and counts the pushes they receive. It is the load side of
// bench/fanout.sh and is meant to share a small machine with the server it
// measures, so it is kept lean: one goroutine and one small buffer per
// connection, no allocation per received frame.
//
// Output, one JSON object a line on stdout:
//
//	{"event":"connected",...}  every dial has returned; each client sent
//	                           interval::X and start:: (all at once, now)
//	{"event":"mark",...}       on SIGUSR1: counts since the previous mark
//	{"event":"summary",...}    at the end (-duration, SIGINT or SIGTERM)
//
// A mark or summary reports the pushes received over its window, in total
// and per connection (min, max, and how many got none), next to the number
// expected (open connections / interval), so a starved client shows.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// bufSize is the per-connection read buffer: enough for a frame header and
// the 6 bytes that tell a push. A push's remaining payload is read past it
// (see discard), so 10,000 connections cost 10,000 small buffers.
const bufSize = 64

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		os.Exit(1)
	}
}

func run() error {
	rawURL := flag.String("url", "ws://127.0.0.1:8000/", "server URL (loopback only)")
	n := flag.Int("n", 1000, "connections to open")
	interval := flag.String("interval", "1", "push interval sent as interval::X (seconds)")
	ramp := flag.Int("ramp", 20, "dials (connect + WebSocket handshake) in flight at once")
	duration := flag.Duration("duration", 0, "run this long after the last dial, then print the summary (0 = until SIGINT/SIGTERM)")
	report := flag.Duration("report", 0, "print a progress line on stderr this often (0 = never)")
	flag.Parse()

	u, err := url.Parse(*rawURL)
	if err != nil {
		return err
	}
	if !isLoopback(u.Hostname()) {
		return fmt.Errorf("-url %s: only loopback hosts are allowed", *rawURL)
	}
	iv, err := strconv.ParseFloat(*interval, 64)
	if err != nil || iv <= 0 {
		return fmt.Errorf("-interval %q: not a positive number", *interval)
	}
	if *n < 1 || *ramp < 1 {
		return errors.New("-n and -ramp must be positive")
	}
	raiseNoFile(uint64(*n) + 1000)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	marks := make(chan os.Signal, 1)
	signal.Notify(marks, syscall.SIGUSR1)

	l := &load{interval: iv, errs: map[string]int{}}
	l.cmds = commandFrames("interval::"+*interval, "start::")
	out := json.NewEncoder(os.Stdout)

	if *report > 0 {
		go l.progress(ctx, *report)
	}

	// Dial with at most -ramp handshakes in flight: the server classifies
	// at most 1024 new connections at once and the listen backlog is finite.
	t0 := time.Now()
	sem := make(chan struct{}, *ramp)
	for i := 0; i < *n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		go func() {
			c, err := l.dial(ctx, *rawURL)
			if errors.Is(err, ws.ErrMalformedResponse) {
				// Taken for a raw client (see below): once more, counted.
				l.retried.Add(1)
				c, err = l.dial(ctx, *rawURL)
			}
			if err != nil {
				l.failed.Add(1)
				l.note("dial: " + err.Error())
				<-sem
				return
			}
			l.add(c)
			<-sem
			c.readLoop(l)
		}()
	}
	// Wait for the dials only (not the read loops): each releases sem.
	for range *ramp {
		sem <- struct{}{}
	}
	dialTime := time.Since(t0)

	l.mu.Lock()
	conns := l.conns // complete: every dial has returned
	l.mu.Unlock()

	// Only now start the pushes. The server takes a connection silent for
	// 150 ms after accept for a raw (telnet) client and answers Welcome
	// instead of HTTP; dialing while thousands of clients read pushes
	// starved the dialing goroutines past that (connect seen 150-180 ms
	// late, request sent at once after it).
	for _, c := range conns {
		if _, err := c.nc.Write(l.cmds); err != nil {
			l.note("start: " + err.Error()) // the read loop counts it closed
		}
	}
	_ = out.Encode(map[string]any{
		"event": "connected", "n": *n, "connected": len(conns), "failed": l.failed.Load(), "retried": l.retried.Load(),
		"dial_seconds":   round(dialTime.Seconds()),
		"start_seconds":  round(time.Since(t0).Seconds() - dialTime.Seconds()),
		"max_connect_ms": round(float64(l.maxConnect.Load()) / 1e6),
	})

	var end <-chan time.Time
	if *duration > 0 {
		end = time.After(*duration)
	}
	w := newWindow(conns)
wait:
	for {
		select {
		case <-marks:
			_ = out.Encode(l.stats("mark", w, conns))
			w = newWindow(conns)
		case <-ctx.Done():
			break wait
		case <-end:
			break wait
		}
	}
	l.stopping.Store(true)
	s := l.stats("summary", w, conns)
	s["n"], s["failed"], s["retried"], s["dial_seconds"] = *n, l.failed.Load(), l.retried.Load(), round(dialTime.Seconds())
	l.mu.Lock()
	s["errors"] = l.errs
	l.mu.Unlock()
	_ = out.Encode(s)
	// Exiting closes every socket; the read loops are not waited for.
	return nil
}

// load is the state shared by every connection.
type load struct {
	interval float64
	cmds     []byte // the masked frames interval::X and start::, sent once all are dialed

	mu    sync.Mutex
	conns []*client
	errs  map[string]int // why dials failed or connections ended, counted

	shown int // failed handshakes told on stderr

	failed, closed       atomic.Int64
	retried              atomic.Int64 // dials answered by a raw Welcome, tried again
	maxConnect           atomic.Int64 // longest TCP connect seen by a dial, ns
	pings, other, errMsg atomic.Uint64
	stopping             atomic.Bool
}

// client is one connection; only its read loop touches it, except pushes
// and done, which the main goroutine reads for the stats, and the one
// write of the commands (a net.Conn takes concurrent writes).
type client struct {
	nc     net.Conn
	src    io.Reader     // nc, after whatever the handshake read ahead
	br     *bufio.Reader // bufSize, over src
	hdr    [ws.MaxHeaderSize - 2]byte
	ctl    [125]byte // a control frame's payload
	lr     io.LimitedReader
	pushes atomic.Uint64
	done   atomic.Bool
}

func (l *load) dial(ctx context.Context, rawURL string) (*client, error) {
	var rec *recConn
	d := ws.Dialer{Timeout: 30 * time.Second, WrapConn: func(nc net.Conn) net.Conn {
		rec = &recConn{Conn: nc, connected: time.Now()}
		return rec
	}}
	began := time.Now()
	_, br, _, err := d.Dial(ctx, rawURL)
	if rec != nil {
		t := int64(rec.connected.Sub(began))
		for m := l.maxConnect.Load(); t > m && !l.maxConnect.CompareAndSwap(m, t); m = l.maxConnect.Load() {
		}
	}
	if err != nil {
		if errors.Is(err, ws.ErrMalformedResponse) && rec != nil {
			// Say what came instead of an HTTP response, and when.
			err = fmt.Errorf("%w: got %q", err, rec.first)
			l.mu.Lock()
			if l.shown < 5 {
				l.shown++
				fmt.Fprintf(os.Stderr, "wsload: %v; connect took %v, request written %v later, answer read %v after connect\n",
					err, rec.connected.Sub(began), rec.wrote.Sub(rec.connected), rec.read.Sub(rec.connected))
			}
			l.mu.Unlock()
		}
		return nil, err
	}
	nc := rec.Conn // the recorder is for the handshake only
	c := &client{nc: nc, src: nc}
	if br != nil {
		// The Welcome may have come with the handshake response: read what
		// was buffered first, then the socket, so the pooled reader can go.
		c.src = io.MultiReader(io.LimitReader(br, int64(br.Buffered())), nc)
	}
	c.br = bufio.NewReaderSize(c.src, bufSize)
	return c, nil
}

// recConn notes when the handshake request went out and the first bytes
// that came back, to explain a failed handshake.
type recConn struct {
	net.Conn
	connected, wrote, read time.Time
	first                  string
}

func (r *recConn) Write(p []byte) (int, error) {
	if r.wrote.IsZero() {
		r.wrote = time.Now()
	}
	return r.Conn.Write(p)
}

func (r *recConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	if r.read.IsZero() && n > 0 {
		r.read = time.Now()
		r.first = string(p[:min(n, 24)])
	}
	return n, err
}

func (l *load) add(c *client) {
	l.mu.Lock()
	l.conns = append(l.conns, c)
	l.mu.Unlock()
}

// note counts an error by its text, with a bound on distinct texts.
func (l *load) note(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.errs[msg]; ok || len(l.errs) < 20 {
		l.errs[msg]++
	} else {
		l.errs["(other)"]++
	}
}

var (
	pushPrefix  = []byte("Push::")
	errorPrefix = []byte("Error:")
)

// readLoop reads frames until the connection ends, answering pings (the
// server drops a client silent for 75 s) and counting pushes.
func (c *client) readLoop(l *load) {
	err := c.readFrames(l)
	c.done.Store(true)
	_ = c.nc.Close()
	if !l.stopping.Load() {
		l.closed.Add(1)
		l.note("read: " + err.Error())
	}
}

func (c *client) readFrames(l *load) error {
	for {
		h, err := ws.ReadHeaderBuffer(c.br, c.hdr[:])
		if err != nil {
			return err
		}
		if h.Masked || h.Length < 0 {
			return errors.New("bad frame from server")
		}
		if h.OpCode.IsControl() {
			if h.Length > int64(len(c.ctl)) {
				return errors.New("control frame too long")
			}
			p := c.ctl[:h.Length]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return err
			}
			switch h.OpCode {
			case ws.OpPing:
				l.pings.Add(1)
				// Allocates, but only once per 30 s per connection.
				if err := wsutil.WriteClientMessage(c.nc, ws.OpPong, p); err != nil {
					return err
				}
			case ws.OpClose:
				_ = wsutil.WriteClientMessage(c.nc, ws.OpClose, nil)
				return errors.New("server sent close " + closeReason(p))
			}
			continue
		}
		if h.Length >= int64(len(pushPrefix)) {
			p, err := c.br.Peek(len(pushPrefix))
			if err != nil {
				return err
			}
			switch {
			case bytes.Equal(p, pushPrefix):
				c.pushes.Add(1)
			case bytes.Equal(p, errorPrefix):
				l.errMsg.Add(1)
			default:
				l.other.Add(1) // the Welcome
			}
		} else {
			l.other.Add(1)
		}
		if err := c.discard(h.Length); err != nil {
			return err
		}
	}
}

// discard skips n payload bytes: the buffered part, then the rest straight
// from the socket into io.Discard's pooled buffer, so a push costs one read
// after its header instead of one per bufSize bytes.
func (c *client) discard(n int64) error {
	b := min(int64(c.br.Buffered()), n)
	_, _ = c.br.Discard(int(b))
	if n -= b; n == 0 {
		return nil
	}
	c.lr = io.LimitedReader{R: c.src, N: n}
	m, err := io.Copy(io.Discard, &c.lr)
	if err == nil && m < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func closeReason(p []byte) string {
	if len(p) < 2 {
		return "(no code)"
	}
	return strconv.Itoa(int(p[0])<<8|int(p[1])) + " " + strconv.Quote(string(p[2:]))
}

// commandFrames builds the masked client text frames of msgs, sent in one write.
func commandFrames(msgs ...string) []byte {
	var b bytes.Buffer
	for _, m := range msgs {
		if err := ws.WriteFrame(&b, ws.MaskFrame(ws.NewTextFrame([]byte(m)))); err != nil {
			panic(err) // a bytes.Buffer does not fail
		}
	}
	return b.Bytes()
}

// window remembers each connection's push count at its start.
type window struct {
	start time.Time
	base  []uint64
}

func newWindow(conns []*client) window {
	w := window{start: time.Now(), base: make([]uint64, len(conns))}
	for i, c := range conns {
		w.base[i] = c.pushes.Load()
	}
	return w
}

// stats sums the pushes over w, per open connection and in total.
func (l *load) stats(event string, w window, conns []*client) map[string]any {
	secs := time.Since(w.start).Seconds()
	var total, open, starved uint64
	minP, maxP := uint64(0), uint64(0)
	for i, c := range conns {
		d := c.pushes.Load() - w.base[i]
		total += d
		if c.done.Load() {
			continue // gone: counted in "closed", not in the per-client spread
		}
		if open == 0 || d < minP {
			minP = d
		}
		maxP = max(maxP, d)
		if d == 0 {
			starved++
		}
		open++
	}
	return map[string]any{
		"event": event, "connected": len(conns), "open": open, "closed": l.closed.Load(),
		"window_seconds": round(secs), "pushes": total,
		"pushes_per_s":          round(float64(total) / secs),
		"expected_per_s":        round(float64(open) / l.interval),
		"min_pushes_per_client": minP, "max_pushes_per_client": maxP,
		"expected_per_client": round(secs / l.interval), "clients_without_push": starved,
		"pings": l.pings.Load(), "error_msgs": l.errMsg.Load(), "other_msgs": l.other.Load(),
	}
}

func (l *load) progress(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		conns := l.conns
		l.mu.Unlock()
		var pushes uint64
		for _, c := range conns {
			pushes += c.pushes.Load()
		}
		fmt.Fprintf(os.Stderr, `{"event":"progress","connected":%d,"failed":%d,"closed":%d,"pushes":%d}`+"\n",
			len(conns), l.failed.Load(), l.closed.Load(), pushes)
	}
}

// raiseNoFile lifts RLIMIT_NOFILE to want, or as high as allowed.
func raiseNoFile(want uint64) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur >= want {
		return
	}
	r.Cur = want
	if r.Max < want {
		r.Max = want // allowed for root only
	}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r) == nil {
		return
	}
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	r.Cur = r.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	fmt.Fprintf(os.Stderr, "wsload: RLIMIT_NOFILE is %d, below the %d wanted\n", r.Cur, want)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
