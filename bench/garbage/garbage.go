// Package garbage sends random bytes to an edgestat port the way a broken
// client, a port scanner or a fuzzer would: to the raw Rt-Stat side, to
// the HTTP side after a real request line, and to the WebSocket endpoints
// after a real upgrade, framed and unframed. It is shared by the garbage
// test (garbage_test.go, a few tens of MiB) and the soak driver
// (bench/soak, 1 GiB over the run).
//
// Every connection is an "episode": dial, one variant of garbage up to a
// random size, close. Workers repeat episodes until their kind's budget of
// bytes is sent or the context ends. Each write has a deadline: a write
// that cannot finish within Options.WriteTimeout means the server neither
// reads nor closes the connection, and is counted as Stalled.
package garbage

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// Kind is where garbage goes.
type Kind int

// The kinds, each with its own budget.
const (
	Raw       Kind = iota // the shared port without an HTTP request line: raw Rt-Stat
	HTTP                  // a real request line, then garbage headers or bodies
	WSRtStat              // a WebSocket upgrade to / (Rt-Stat), then garbage
	WSMonitor             // the same on /monitor
	WSLive                // the same on /traffic/live
	NumKinds
)

var kindNames = [NumKinds]string{"raw", "http", "ws /", "ws /monitor", "ws /traffic/live"}

func (k Kind) String() string { return kindNames[k] }

var wsPaths = [NumKinds]string{WSRtStat: "/", WSMonitor: "/monitor", WSLive: "/traffic/live"}

// Options of a Runner.
type Options struct {
	Addr         string           // host:port of the shared port
	Budget       [NumKinds]int64  // bytes to send per kind; 0 sends none
	Workers      int              // connections at once per kind; default 3
	Rate         float64          // bytes per second over all kinds; 0 = as fast as possible
	MaxPerConn   int64            // most bytes one episode sends; default 2 MiB
	WriteTimeout time.Duration    // a write stuck this long is a stall; default 15s
	Seed         uint64           // 0: a random seed
	Note         func(msg string) // optional: told about the first surprises
}

// Counts are one kind's totals.
type Counts struct {
	Bytes        int64 // garbage bytes the kernel took (sent)
	Read         int64 // bytes the server answered with, where the episode read them
	Conns        int64 // episodes (connections dialed)
	DialErrors   int64 // TCP connect failed
	Refused      int64 // WebSocket handshake refused (HTTP status instead of 101)
	ServerClosed int64 // the server closed or reset the connection before the episode ended
	Stalled      int64 // a write made no progress for WriteTimeout
	Lingering    int64 // the server did not close within WriteTimeout of the client's FIN
}

type counters struct {
	bytes, read, conns, dialErrors, refused, serverClosed, stalled, lingering atomic.Int64
}

// Runner runs the workers of every kind.
type Runner struct {
	o     Options
	c     [NumKinds]counters
	pace  pacer
	seed  uint64
	seq   atomic.Uint64
	notes atomic.Int64
}

// New returns a Runner; call Run.
func New(o Options) *Runner {
	if o.Workers <= 0 {
		o.Workers = 3
	}
	if o.MaxPerConn <= 0 {
		o.MaxPerConn = 2 << 20
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 15 * time.Second
	}
	r := &Runner{o: o, pace: pacer{rate: o.Rate}, seed: o.Seed}
	if r.seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		r.seed = binary.LittleEndian.Uint64(b[:])
	}
	return r
}

// Run sends every kind's budget, then returns; or returns when ctx ends.
// Every goroutine it starts has ended when it returns.
func (r *Runner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for k := range NumKinds {
		if r.o.Budget[k] <= 0 {
			continue
		}
		for range r.o.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.worker(ctx, k)
			}()
		}
	}
	wg.Wait()
}

// Counts returns the totals so far of one kind.
func (r *Runner) Counts(k Kind) Counts {
	c := &r.c[k]
	return Counts{Bytes: c.bytes.Load(), Read: c.read.Load(), Conns: c.conns.Load(),
		DialErrors: c.dialErrors.Load(), Refused: c.refused.Load(),
		ServerClosed: c.serverClosed.Load(), Stalled: c.stalled.Load(), Lingering: c.lingering.Load()}
}

// Total is the bytes sent over every kind.
func (r *Runner) Total() int64 {
	var n int64
	for k := range NumKinds {
		n += r.c[k].bytes.Load()
	}
	return n
}

func (r *Runner) note(format string, args ...any) {
	if r.o.Note != nil && r.notes.Add(1) <= 20 {
		r.o.Note(fmt.Sprintf(format, args...))
	}
}

func (r *Runner) worker(ctx context.Context, k Kind) {
	rng := rand.New(rand.NewPCG(r.seed, r.seq.Add(1)))
	var chacha [32]byte
	binary.LittleEndian.PutUint64(chacha[:], rng.Uint64())
	binary.LittleEndian.PutUint64(chacha[8:], rng.Uint64())
	e := &episode{r: r, k: k, rng: rng, src: rand.NewChaCha8(chacha), buf: make([]byte, 128<<10)}
	for ctx.Err() == nil && r.c[k].bytes.Load() < r.o.Budget[k] {
		if err := e.run(ctx); err != nil && ctx.Err() == nil {
			// Nothing to talk to (a dial failed): do not spin.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// episode is one connection's worth of garbage; a worker reuses it.
type episode struct {
	r   *Runner
	k   Kind
	ctx context.Context
	rng *rand.Rand
	src *rand.ChaCha8
	buf []byte

	nc     net.Conn
	cap    int64 // bytes this episode may send
	sent   int64
	reader chan struct{} // closed when the drain goroutine ends; nil without one
}

var errDone = errors.New("episode done")

func (e *episode) counters() *counters { return &e.r.c[e.k] }

// run dials and sends one variant. It returns an error only when the dial
// failed.
func (e *episode) run(ctx context.Context) error {
	c := e.counters()
	e.ctx, e.sent, e.reader = ctx, 0, nil
	e.cap = 1 + e.rng.Int64N(e.r.o.MaxPerConn)
	if left := e.r.o.Budget[e.k] - c.bytes.Load(); e.cap > left {
		e.cap = max(left, 1)
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", e.r.o.Addr)
	if err != nil {
		c.dialErrors.Add(1)
		e.r.note("%s: dial: %v", e.k, err)
		return err
	}
	c.conns.Add(1)
	e.nc = nc
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	switch e.k {
	case Raw:
		err = e.raw()
	case HTTP:
		err = e.http()
	default:
		err = e.websocket(ctx)
	}
	switch {
	case errors.Is(err, errDone):
		e.finish()
	case err == nil, ctx.Err() != nil:
	case isTimeout(err):
		c.stalled.Add(1)
		e.r.note("%s: a write made no progress for %v (server neither reads nor closes)", e.k, e.r.o.WriteTimeout)
	case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.serverClosed.Add(1)
	default:
		c.serverClosed.Add(1)
		e.r.note("%s: %v", e.k, err)
	}
	_ = nc.Close()
	if e.reader != nil {
		<-e.reader
	}
	return nil
}

// finish ends an episode that sent all it meant to as a polite client
// would: it shuts its side (FIN), so that the server gets every byte sent
// (closing with unread answers would reset the connection and drop them),
// and waits for the server to close in turn. A server that does not close
// within WriteTimeout of the FIN is counted as Lingering.
func (e *episode) finish() {
	if tc, ok := e.nc.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	if e.reader == nil {
		e.drain(e.nc)
	}
	t := time.NewTimer(e.r.o.WriteTimeout)
	defer t.Stop()
	select {
	case <-e.reader:
	case <-t.C:
		e.counters().lingering.Add(1)
		e.r.note("%s: the server did not close the connection %v after the client's FIN", e.k, e.r.o.WriteTimeout)
	case <-e.ctx.Done():
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// drain reads and counts what the server answers until the connection
// closes, so the server's replies never back up.
func (e *episode) drain(r io.Reader) {
	done := make(chan struct{})
	e.reader = done
	c := e.counters()
	go func() {
		defer close(done)
		var b [16 << 10]byte
		for {
			n, err := r.Read(b[:])
			c.read.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
}

// write sends p, paced, with a deadline; errDone once the episode's cap is
// reached.
func (e *episode) write(p []byte) error {
	if left := e.cap - e.sent; int64(len(p)) > left {
		p = p[:left]
	}
	if len(p) == 0 {
		return errDone
	}
	if err := e.r.pace.wait(e.ctx, len(p)); err != nil {
		return err
	}
	_ = e.nc.SetWriteDeadline(time.Now().Add(e.r.o.WriteTimeout))
	n, err := e.nc.Write(p)
	e.sent += int64(n)
	e.counters().bytes.Add(int64(n))
	if err == nil && e.sent >= e.cap {
		err = errDone
	}
	return err
}

// random fills and returns the first n bytes of the buffer with random bytes.
func (e *episode) random(n int) []byte {
	p := e.buf[:n]
	_, _ = e.src.Read(p)
	return p
}

// chunk is a random write size: mostly small, sometimes 64 KiB.
func (e *episode) chunk() int {
	if e.rng.IntN(4) == 0 {
		return 64 << 10
	}
	return 1 + e.rng.IntN(4096)
}

// commands are real Rt-Stat commands mixed into the garbage now and then,
// so garbage clients also join and leave interval groups.
var commands = []string{"start", "stop", "version", "auth::x", "interval::", "interval::-1", "start::", "pong"}

func (e *episode) command() string {
	c := commands[e.rng.IntN(len(commands))]
	if c == "interval::" {
		c += strconv.FormatFloat(0.5+e.rng.Float64()*60, 'f', 3, 64)
	}
	return c
}

// raw: garbage straight onto the port. Variants: random bytes (many short
// lines, each an error reply) with or without reading the replies, random
// bytes without a newline (the line-length limit closes the connection),
// printable lines with real commands among them, and (one time in three)
// lines of random bytes a few at a time, each batch's replies read before
// the next: a client that floods garbage but keeps up with the answers,
// which the server serves for as long as it sends.
func (e *episode) raw() error {
	variant := e.rng.IntN(6)
	if variant >= 4 {
		return e.rawPaced()
	}
	if variant == 1 || variant == 3 {
		e.drain(e.nc)
	}
	for {
		p := e.random(e.chunk())
		switch variant {
		case 2: // one endless line
			for i, b := range p {
				if b == '\n' {
					p[i] = 'x'
				}
			}
		case 3: // text lines, a real command now and then
			printable(p)
			if e.rng.IntN(8) == 0 {
				p = append(append(append(p[:0:0], p[:len(p)/2]...), "\n"+e.command()+"\n"...), p[len(p)/2:]...)
			}
		}
		if err := e.write(p); err != nil {
			return err
		}
	}
}

// maxPaced is the most requests a paced episode has unanswered: under the
// 16 replies a Rt-Stat client may have queued.
const maxPaced = 8

// rawPaced sends batches of lines of random bytes (no newline and no
// telnet IAC inside, so each line is one request and gets one reply) and
// reads the replies of a batch before sending the next.
func (e *episode) rawPaced() error {
	br := bufio.NewReaderSize(e.nc, 4096)
	c := e.counters()
	for {
		k := 1 + e.rng.IntN(maxPaced)
		var b []byte
		for range k {
			line := e.random(e.rng.IntN(8 << 10))
			for i, x := range line {
				if x == '\n' || x == 0xff {
					line[i] = 'x'
				}
			}
			b = append(append(b, line...), '\n')
		}
		if err := e.write(b); err != nil {
			return err
		}
		for got := 0; got < k; {
			_ = e.nc.SetReadDeadline(time.Now().Add(e.r.o.WriteTimeout))
			line, err := br.ReadSlice('\n')
			c.read.Add(int64(len(line)))
			if err != nil {
				if isTimeout(err) {
					e.r.note("%s: no reply to a garbage line for %v", e.k, e.r.o.WriteTimeout)
				}
				return err
			}
			if bytes.HasPrefix(line, []byte("Error::")) {
				got++
			}
		}
	}
}

// printable maps p onto printable ASCII with a newline every ~80 bytes.
func printable(p []byte) {
	for i, b := range p {
		switch {
		case b < 3:
			p[i] = '\n'
		default:
			p[i] = ' ' + b%95
		}
	}
}

var methods = []string{"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"}

// http: a real request line, then garbage. Variants: random bytes after
// the line; a header block of random (printable and not) header lines, too
// big or not; POST bodies of random bytes to /traffic/reports and /post/
// with a Content-Length, several per connection; a chunked body of garbage;
// a random path with sane headers.
func (e *episode) http() error {
	e.drain(e.nc)
	switch e.rng.IntN(6) {
	case 0:
		line := methods[e.rng.IntN(len(methods))] + " /" + string(printableN(e, e.rng.IntN(64))) + " HTTP/1.1\r\n"
		if err := e.write([]byte(line)); err != nil {
			return err
		}
		return e.randomRest()
	case 1:
		var b bytes.Buffer
		b.WriteString("GET / HTTP/1.1\r\nHost: edgestat\r\n")
		limit := 1 + e.rng.IntN(64<<10)
		for b.Len() < limit {
			name := printableN(e, 1+e.rng.IntN(20))
			for i, c := range name {
				if c == ':' || c == ' ' || c == '\n' {
					name[i] = 'x'
				}
			}
			b.WriteString("X-")
			b.Write(name)
			b.WriteString(": ")
			if e.rng.IntN(4) == 0 {
				b.Write(e.random(e.rng.IntN(200))) // control bytes and all
			} else {
				v := printableN(e, e.rng.IntN(4000))
				for i, c := range v {
					if c == '\n' {
						v[i] = ' '
					}
				}
				b.Write(v)
			}
			b.WriteString("\r\n")
		}
		b.WriteString("\r\n")
		if err := e.write(b.Bytes()); err != nil {
			return err
		}
		return e.randomRest()
	case 2, 3:
		path := "/traffic/reports"
		limit := 1 << 20
		if e.rng.IntN(3) == 0 {
			path, limit = "/post/", 32<<10
		}
		for {
			n := e.rng.IntN(limit)
			head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: edgestat\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", path, n)
			if err := e.write([]byte(head)); err != nil {
				return err
			}
			for n > 0 {
				p := e.random(min(n, len(e.buf)))
				if err := e.write(p); err != nil {
					return err
				}
				n -= len(p)
			}
		}
	case 4:
		if err := e.write([]byte("POST /traffic/reports HTTP/1.1\r\nHost: edgestat\r\nTransfer-Encoding: chunked\r\n\r\n")); err != nil {
			return err
		}
		for {
			n := e.rng.IntN(8192)
			if err := e.write([]byte(strconv.FormatInt(int64(n), 16) + "\r\n")); err != nil {
				return err
			}
			if err := e.write(e.random(n)); err != nil {
				return err
			}
			if err := e.write([]byte("\r\n")); err != nil {
				return err
			}
			if e.rng.IntN(8) == 0 {
				return e.randomRest() // a broken chunk
			}
		}
	default:
		for {
			req := "GET /" + string(pathish(printableN(e, e.rng.IntN(200)))) + " HTTP/1.1\r\nHost: edgestat\r\n\r\n"
			if err := e.write([]byte(req)); err != nil {
				return err
			}
		}
	}
}

func printableN(e *episode, n int) []byte {
	p := append([]byte(nil), e.random(n)...)
	for i, b := range p {
		p[i] = '!' + b%94
	}
	return p
}

// pathish keeps p usable in a request line (no spaces, no control bytes).
func pathish(p []byte) []byte {
	for i, b := range p {
		if b == ' ' || b == '#' || b == '%' {
			p[i] = '_'
		}
	}
	return p
}

// randomRest sends random bytes until the cap or an error.
func (e *episode) randomRest() error {
	for {
		if err := e.write(e.random(e.chunk())); err != nil {
			return err
		}
	}
}

// websocket: a real upgrade, then garbage. Variants: random bytes
// (unframed); frames with random headers (opcode, RSV bits, FIN, mask,
// lengths up to 2^63) and random payloads; well-formed masked frames of
// random payload (text, binary, fragmented, pings, some over the 64 KiB
// limit, Rt-Stat commands now and then) with the replies read.
func (e *episode) websocket(ctx context.Context) error {
	d := ws.Dialer{Timeout: 5 * time.Second, NetDial: func(context.Context, string, string) (net.Conn, error) {
		return e.nc, nil
	}}
	_, br, _, err := d.Dial(ctx, "ws://"+e.r.o.Addr+wsPaths[e.k])
	if err != nil {
		var st ws.StatusError
		if errors.As(err, &st) {
			e.counters().refused.Add(1)
			if st != 503 {
				e.r.note("%s: handshake: %v", e.k, err)
			}
			return errDone
		}
		return err
	}
	var rd io.Reader = e.nc
	if br != nil {
		rd = io.MultiReader(io.LimitReader(br, int64(br.Buffered())), e.nc)
	}
	variant := e.rng.IntN(6)
	if variant >= 4 && e.k != WSLive { // /traffic/live answers nothing
		return e.wsPaced(rd)
	}
	if variant != 0 {
		e.drain(rd)
	}
	switch variant {
	case 0:
		return e.randomRest()
	case 1:
		for {
			if err := e.randomFrame(); err != nil {
				return err
			}
		}
	default:
		for {
			if err := e.wellFormedFrame(); err != nil {
				return err
			}
		}
	}
}

// wsPaced sends batches of well-formed frames of random payload, each one
// request that gets one reply, and reads a batch's replies before sending
// the next.
func (e *episode) wsPaced(rd io.Reader) error {
	br := bufio.NewReaderSize(rd, 4096)
	c := e.counters()
	for {
		k := 1 + e.rng.IntN(maxPaced)
		for range k {
			op := ws.OpText
			if e.rng.IntN(2) == 0 {
				op = ws.OpBinary
			}
			if err := e.frame(op, true, e.random(e.rng.IntN(16<<10))); err != nil {
				return err
			}
		}
		for got := 0; got < k; {
			_ = e.nc.SetReadDeadline(time.Now().Add(e.r.o.WriteTimeout))
			h, err := ws.ReadHeader(br)
			if err == nil {
				c.read.Add(h.Length)
				_, err = br.Discard(int(h.Length))
			}
			if err != nil {
				if isTimeout(err) {
					e.r.note("%s: no reply to a garbage message for %v", e.k, e.r.o.WriteTimeout)
				}
				return err
			}
			if h.OpCode == ws.OpClose {
				return io.EOF
			}
			if !h.OpCode.IsControl() {
				got++
			}
		}
	}
}

// randomFrame writes a frame header of random fields and a payload of its
// stated length (cut at the episode's cap).
func (e *episode) randomFrame() error {
	var h [14]byte
	h[0] = byte(e.rng.Uint32())
	masked := e.rng.IntN(8) != 0
	n := 2
	var length uint64
	switch e.rng.IntN(4) {
	case 0:
		length = uint64(e.rng.IntN(126))
		h[1] = byte(length)
	case 1:
		length = uint64(e.rng.IntN(1 << 16))
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(length))
		n = 4
	case 2:
		length = uint64(e.rng.IntN(200 << 10))
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], length)
		n = 10
	default:
		length = e.rng.Uint64() // up to 2^64-1, MSB and all
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], length)
		n = 10
	}
	if masked {
		h[1] |= 0x80
		binary.LittleEndian.PutUint32(h[n:], e.rng.Uint32())
		n += 4
	}
	if err := e.write(h[:n]); err != nil {
		return err
	}
	for length > 0 {
		p := e.random(int(min(length, uint64(len(e.buf)))))
		if err := e.write(p); err != nil {
			return err
		}
		length -= uint64(len(p))
	}
	return nil
}

// wellFormedFrame writes one valid masked client frame (or a fragmented
// message) of random payload.
func (e *episode) wellFormedFrame() error {
	var payload []byte
	op := ws.OpText
	switch r := e.rng.IntN(20); {
	case r == 0:
		op = ws.OpPing
		payload = e.random(e.rng.IntN(126))
	case r == 1: // over the 64 KiB limit
		return e.frame(ws.OpBinary, true, e.random(64<<10+1+e.rng.IntN(len(e.buf)-64<<10-1)))
	case r == 2: // a fragmented message
		parts := 2 + e.rng.IntN(6)
		for i := range parts {
			o := ws.OpContinuation
			if i == 0 {
				o = ws.OpText
			}
			if err := e.frame(o, i == parts-1, e.random(e.rng.IntN(8192))); err != nil {
				return err
			}
		}
		return nil
	case r == 3:
		payload = []byte(e.command())
	case r < 8:
		op = ws.OpBinary
		payload = e.random(e.rng.IntN(16 << 10))
	default:
		payload = e.random(e.rng.IntN(16 << 10))
	}
	return e.frame(op, true, payload)
}

// frame writes one masked frame; the payload is sent as is (random bytes
// stay random once unmasked).
func (e *episode) frame(op ws.OpCode, fin bool, payload []byte) error {
	var hb bytes.Buffer
	_ = ws.WriteHeader(&hb, ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(payload))})
	// One write: header and payload together (the payload may be e.buf).
	frame := append(hb.Bytes(), payload...)
	return e.write(frame)
}

// pacer spreads writes to a rate in bytes per second.
type pacer struct {
	rate float64
	mu   sync.Mutex
	next time.Time
}

func (p *pacer) wait(ctx context.Context, n int) error {
	if p.rate <= 0 {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	// Time lost to dials and closes is made up, but at most a second of it
	// at once.
	if p.next.Before(now.Add(-time.Second)) {
		p.next = now.Add(-time.Second)
	}
	at := p.next
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	p.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
