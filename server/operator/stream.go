package operator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Defaults of StreamConfig (the snaplen is SegmentConfig's too).
const (
	pcapDefaultSnapLen      = 262144
	streamDefaultMaxClients = 16
	streamDefaultQueueBytes = 4 << 20
	streamDefaultStall      = 10 * time.Second
	// streamMaxDrain bounds a finished session's wait for its readers.
	streamMaxDrain = 10 * time.Minute
)

const (
	pcapFileHeaderLen   = 24
	pcapRecordHeaderLen = 16
	// streamWriteBuf is what a client's writer gathers before a write to
	// its socket; StallTimeout applies to each such write.
	streamWriteBuf = 64 << 10
	// streamSocketBuf is each client's kernel send buffer (Linux doubles it).
	streamSocketBuf = 128 << 10
	// streamMaxClientInput bounds what a client may send us: pcap readers send
	// nothing, so a client that sends this much is not one.
	streamMaxClientInput = 1 << 20
)

// StreamConfig configures a Stream. Zero fields take the defaults.
type StreamConfig struct {
	Addr         string          // listen address; default "127.0.0.1:0"
	LinkType     layers.LinkType // written in the pcap header
	SnapLen      uint32          // pcap header snaplen; default 262144
	MaxClients   int             // default 16; more are accepted and closed at once
	QueueBytes   int             // bytes waiting per client; default 4 MiB
	Block        bool            // see Packet
	StallTimeout time.Duration   // default 10s
	Log          *slog.Logger
}

// StreamStats counts what a Stream did.
type StreamStats struct {
	Clients int    // connected now
	Served  uint64 // clients ever accepted (not those refused past MaxClients)
	Packets uint64 // packets offered to Packet
	Sent    uint64 // packet copies written to clients
	Dropped uint64 // clients dropped as slow
}

// A Stream serves packets to any number of TCP clients as a live pcap
// stream (microsecond pcap, readable by `tcpdump -r -`, `wireshark -k -i -`
// and pcapgo.NewReader).
//
// A client gets the pcap global header as soon as it connects, then every
// packet offered after it connected, in order: a client that joins late gets
// the stream from the moment it joined, never what came before. That is why
// the session layer waits for the first client (WaitClient) before it starts
// its emulator.
//
// Each client has its own queue of at most QueueBytes and one writer
// goroutine, so a slow client costs only its own queue; what it does when the
// queue is full depends on StreamConfig.Block (see Packet).
type Stream struct {
	cfg    StreamConfig
	log    *slog.Logger
	ln     net.Listener
	header []byte // the pcap global header, the first thing every client gets

	// Used by Packet only, which is called from one goroutine.
	enc  pcapAppender
	pw   *pcapgo.Writer
	snap []*streamClient

	mu      sync.Mutex
	clients map[*streamClient]struct{}
	stopped bool // End or Close began: nobody more is admitted

	nclients  atomic.Int32 // lets Packet return at once when nobody listens
	ended     atomic.Bool  // End or Close began: Packet does nothing more
	first     chan struct{}
	firstOnce sync.Once
	stop      chan struct{} // closed when End or Close begins
	stopOnce  sync.Once
	quit      chan struct{} // closed by Close: a waiting Packet gives up
	quitOnce  sync.Once
	wg        sync.WaitGroup // the accept loop and every client's goroutines

	served, packets, sent, dropped atomic.Uint64
}

// NewStream binds the listener and starts its accept goroutine, which the
// Stream owns: End or Close stops it.
func NewStream(cfg StreamConfig) (*Stream, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.SnapLen == 0 {
		cfg.SnapLen = pcapDefaultSnapLen
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = streamDefaultMaxClients
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = streamDefaultQueueBytes
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = streamDefaultStall
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("operator: stream listen %s: %w", cfg.Addr, err)
	}
	s := &Stream{
		cfg:     cfg,
		log:     log.With("stream", ln.Addr().String()),
		ln:      ln,
		clients: make(map[*streamClient]struct{}),
		first:   make(chan struct{}),
		stop:    make(chan struct{}),
		quit:    make(chan struct{}),
	}
	s.pw = pcapgo.NewWriter(&s.enc)
	var hdr pcapAppender
	// Cannot fail: pcapAppender never does.
	_ = pcapgo.NewWriter(&hdr).WriteFileHeader(cfg.SnapLen, cfg.LinkType)
	s.header = hdr.b
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr is where clients connect.
func (s *Stream) Addr() net.Addr { return s.ln.Addr() }

// WaitClient returns true once at least one client is connected or has
// connected, false when ctx ends first or the Stream ends without one.
func (s *Stream) WaitClient(ctx context.Context) bool {
	select {
	case <-s.first:
		return true
	case <-ctx.Done():
	case <-s.stop:
	}
	select {
	case <-s.first:
		return true
	default:
		return false
	}
}

// Packet offers one packet to every connected client. It copies data, so
// the caller may reuse it. The record carries ci.Timestamp, ci.CaptureLength
// and ci.Length, clipped so that readers accept it: the captured bytes are at
// most len(data) and SnapLen, and the original length at least that.
//
// With Block false (a live probe: never slow the capture) a client whose
// queue is full is dropped at once. With Block true (an emulator, which may
// go as fast as its slowest reader) Packet waits for room in a full queue,
// but a client that cannot take a write for StallTimeout is dropped and
// Packet goes on. A client that disconnects never holds Packet up.
//
// Packet must be called from one goroutine; when nobody is connected it
// costs two atomic operations. After End or Close it does nothing.
func (s *Stream) Packet(ci gopacket.CaptureInfo, data []byte) {
	s.packets.Add(1)
	if s.nclients.Load() == 0 || s.ended.Load() {
		return
	}
	rec := s.encode(ci, data)
	s.mu.Lock()
	for c := range s.clients {
		s.snap = append(s.snap, c)
	}
	s.mu.Unlock()
	for _, c := range s.snap {
		s.offer(c, rec)
	}
	clear(s.snap) // let dropped clients go
	s.snap = s.snap[:0]
}

// encode writes the record once; every client's queue shares the bytes.
func (s *Stream) encode(ci gopacket.CaptureInfo, data []byte) []byte {
	ci, data = pcapClip(ci, data, s.cfg.SnapLen)
	s.enc.b = make([]byte, 0, pcapRecordHeaderLen+len(data))
	// Cannot fail: pcapClip made ci agree with data, and pcapAppender never fails.
	_ = s.pw.WritePacket(ci, data)
	return s.enc.b
}

func (s *Stream) offer(c *streamClient, rec []byte) {
	for {
		switch c.enqueue(rec, s.cfg.QueueBytes) {
		case streamEnqueued, streamGone:
			return
		}
		if !s.cfg.Block {
			c.kill("queue full", true)
			return
		}
		// The writer is in a write bounded by StallTimeout whenever the
		// queue is not empty, so one of these comes in time.
		select {
		case <-c.room:
		case <-c.quit:
			return
		case <-s.quit:
			return
		}
	}
}

// End says no more packets come: it closes the listener, lets every client
// drain what is queued, closes them (they read EOF after the last packet)
// and returns when every goroutine of the Stream is gone. A client drains as
// long as it makes progress (each write has the stall timeout: a slow but
// steady reader gets its whole capture), for at most timeout in all; those
// still draining then are dropped. End is idempotent and may run
// concurrently with Packet and Close.
func (s *Stream) End(timeout time.Duration) {
	s.stopAccepting()
	s.mu.Lock()
	cs := make([]*streamClient, 0, len(s.clients))
	for c := range s.clients {
		cs = append(cs, c)
		c.end()
	}
	s.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
wait:
	for _, c := range cs {
		select {
		case <-c.done:
		case <-t.C:
			for _, c := range cs {
				c.kill("did not drain before the end", true)
			}
			break wait
		case <-s.quit:
			break wait // Close kills them
		}
	}
	s.wg.Wait()
}

// Close stops at once: clients are closed whatever is queued. It returns
// when every goroutine of the Stream is gone. Close is idempotent and may run
// concurrently with Packet and End.
func (s *Stream) Close() {
	s.stopAccepting()
	s.quitOnce.Do(func() { close(s.quit) })
	s.mu.Lock()
	cs := make([]*streamClient, 0, len(s.clients))
	for c := range s.clients {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.kill("stream closed", false)
	}
	s.wg.Wait()
}

// Stats returns the counters; they are read one at a time, not as a
// snapshot.
func (s *Stream) Stats() StreamStats {
	return StreamStats{
		Clients: int(s.nclients.Load()),
		Served:  s.served.Load(),
		Packets: s.packets.Load(),
		Sent:    s.sent.Load(),
		Dropped: s.dropped.Load(),
	}
}

func (s *Stream) stopAccepting() {
	s.stopOnce.Do(func() {
		s.ended.Store(true)
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		close(s.stop)
		_ = s.ln.Close() // ends acceptLoop
	})
}

func (s *Stream) acceptLoop() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, do not spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("stream accept", "err", err, "retry", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.stop:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		if tc, ok := conn.(*net.TCPConn); ok {
			// A small kernel buffer: Linux wakes a blocked writer only when a
			// third of the send buffer is free, and an autotuned one (MiBs on
			// a fast link) would hold a slow but steady reader's writer past
			// the stall timeout. Our own queue holds the rest.
			_ = tc.SetWriteBuffer(streamSocketBuf)
		}
		s.admit(conn)
	}
}

func (s *Stream) admit(conn net.Conn) {
	c := &streamClient{
		s:      s,
		conn:   conn,
		q:      [][]byte{s.header},
		qBytes: len(s.header),
		wake:   make(chan struct{}, 1),
		room:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = conn.Close()
		return
	}
	if len(s.clients) >= s.cfg.MaxClients {
		s.mu.Unlock()
		s.log.Warn("stream client refused: too many clients", "client", conn.RemoteAddr().String(), "max", s.cfg.MaxClients)
		_ = conn.Close()
		return
	}
	s.clients[c] = struct{}{}
	s.nclients.Add(1)
	s.wg.Add(2)
	s.mu.Unlock()
	s.served.Add(1)
	s.firstOnce.Do(func() { close(s.first) })
	s.log.Info("stream client connected", "client", conn.RemoteAddr().String())
	go c.writeLoop()
	go c.readLoop()
}

func (s *Stream) remove(c *streamClient) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
	s.nclients.Add(-1)
}

// A streamClient is one connection: a bounded queue of encoded records, a
// writer goroutine that empties it and a reader goroutine that only notices
// when the client goes.
type streamClient struct {
	s    *Stream
	conn net.Conn

	mu     sync.Mutex
	q      [][]byte
	qBytes int
	state  streamClientState

	wake     chan struct{} // cap 1: the queue has records, or the state changed
	room     chan struct{} // cap 1: the queue shrank
	quit     chan struct{} // closed by kill
	done     chan struct{} // closed when writeLoop returns
	killOnce sync.Once
}

type streamClientState int

const (
	streamClientOpen   streamClientState = iota
	streamClientEnding                   // End: drain the queue, then close
	streamClientDead
)

type streamEnqueueResult int

const (
	streamEnqueued streamEnqueueResult = iota
	streamFull
	streamGone
)

// enqueue adds rec unless the queue would pass limit. An empty queue takes
// any record, so a packet larger than the limit still goes through.
func (c *streamClient) enqueue(rec []byte, limit int) streamEnqueueResult {
	c.mu.Lock()
	if c.state != streamClientOpen {
		c.mu.Unlock()
		return streamGone
	}
	if c.qBytes > 0 && c.qBytes+len(rec) > limit {
		c.mu.Unlock()
		return streamFull
	}
	c.q = append(c.q, rec)
	c.qBytes += len(rec)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return streamEnqueued
}

func (c *streamClient) end() {
	c.mu.Lock()
	if c.state == streamClientOpen {
		c.state = streamClientEnding
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// kill closes the connection, which ends both goroutines; slow says the
// client is dropped for being slow, which Stats counts. Only the first call
// counts.
func (c *streamClient) kill(reason string, slow bool) {
	c.killOnce.Do(func() {
		c.mu.Lock()
		c.state = streamClientDead
		c.q = nil
		c.qBytes = 0
		c.mu.Unlock()
		close(c.quit)
		_ = c.conn.Close()
		client := c.conn.RemoteAddr().String()
		if slow {
			c.s.dropped.Add(1)
			c.s.log.Warn("stream client dropped", "client", client, "reason", reason)
		} else {
			c.s.log.Info("stream client closed", "client", client, "reason", reason)
		}
	})
}

func (c *streamClient) writeLoop() {
	defer c.s.wg.Done()
	defer close(c.done)
	defer c.s.remove(c)
	bw := bufio.NewWriterSize(streamDeadlineWriter{c.conn, c.s.cfg.StallTimeout}, streamWriteBuf)
	header := true
	for {
		c.mu.Lock()
		for len(c.q) == 0 {
			st := c.state
			c.mu.Unlock()
			if st == streamClientDead {
				return
			}
			if err := bw.Flush(); err != nil {
				c.fail(err)
				return
			}
			if st == streamClientEnding {
				c.kill("end of stream", false)
				return
			}
			select {
			case <-c.wake:
			case <-c.quit:
			}
			c.mu.Lock()
		}
		rec := c.q[0]
		c.q[0] = nil
		c.q = c.q[1:]
		c.mu.Unlock()
		if _, err := bw.Write(rec); err != nil {
			c.fail(err)
			return
		}
		c.mu.Lock()
		if c.state != streamClientDead {
			c.qBytes -= len(rec)
		}
		c.mu.Unlock()
		select {
		case c.room <- struct{}{}:
		default:
		}
		if header {
			header = false
		} else {
			c.s.sent.Add(1)
		}
	}
}

func (c *streamClient) fail(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.kill(fmt.Sprintf("no progress for %v", c.s.cfg.StallTimeout), true)
		return
	}
	c.kill("write: "+err.Error(), false)
}

// readLoop reads only to notice that the client went: what it sends is
// discarded. A client that closes its sending side counts as gone.
func (c *streamClient) readLoop() {
	defer c.s.wg.Done()
	var buf [512]byte
	total := 0
	for {
		n, err := c.conn.Read(buf[:])
		total += n
		if total > streamMaxClientInput {
			c.kill("sent more than a pcap reader does", false)
			return
		}
		if err != nil {
			c.kill("client left", false)
			return
		}
	}
}

// streamDeadlineWriter gives every write to a client its own deadline, so a write
// to a client that stopped reading fails after StallTimeout.
type streamDeadlineWriter struct {
	conn    net.Conn
	timeout time.Duration
}

func (w streamDeadlineWriter) Write(p []byte) (int, error) {
	if err := w.conn.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		return 0, err
	}
	return w.conn.Write(p)
}

// pcapAppender appends to b; pcapgo writes records through it.
type pcapAppender struct{ b []byte }

func (w *pcapAppender) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// pcapClip makes a record every pcap reader accepts: the captured bytes are at
// most len(data), ci.CaptureLength and snaplen, the original length is at
// least that, and a zero timestamp becomes now (as pcapgo would write it, but
// decided here so a SegmentInfo agrees with its file).
func pcapClip(ci gopacket.CaptureInfo, data []byte, snaplen uint32) (gopacket.CaptureInfo, []byte) {
	n := len(data)
	if ci.CaptureLength >= 0 && ci.CaptureLength < n {
		n = ci.CaptureLength
	}
	if uint64(n) > uint64(snaplen) {
		n = int(snaplen)
	}
	ci.CaptureLength = n
	if ci.Length < n {
		ci.Length = n
	}
	if ci.Timestamp.IsZero() {
		ci.Timestamp = time.Now()
	}
	return ci, data[:n]
}
