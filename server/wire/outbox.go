// Package wire holds what every long-lived connection shares: a bounded
// outbound queue that never blocks its producers, and WebSocket framing.
package wire

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned when sending on a closed Outbox.
var ErrClosed = errors.New("wire: connection closed")

// ErrSlow is the reason an Outbox closes its connection when the peer stops
// reading: its queue of must-deliver messages overflowed.
var ErrSlow = errors.New("wire: peer too slow")

// An Outbox serialises writes to one connection. Send never blocks: it queues
// the bytes and, if no write is under way, starts a short-lived goroutine
// that drains the queue and exits. So an idle connection costs no goroutine
// for writing, and a peer that stops reading stalls only its own queue.
//
// Messages are either droppable (periodic pushes: when the queue is full the
// newest is dropped, the peer catches up on the next one) or not (replies:
// a full queue means the peer floods us without reading, and it is closed).
type Outbox struct {
	conn    net.Conn
	timeout time.Duration
	limit   int

	mu      sync.Mutex
	queue   [][]byte
	spare   [][]byte    // the drained queue's backing array, reused
	bufs    net.Buffers // only the drain goroutine touches it
	writing bool
	closed  bool
	last    bool // a final message is queued: later sends are refused
	err     error
	done    chan struct{}
	room    chan struct{} // signalled when the writer takes the queue

	dropped atomic.Uint64
}

// NewOutbox returns an Outbox writing to conn. Each write must finish within
// timeout; at most limit messages wait in the queue.
func NewOutbox(conn net.Conn, timeout time.Duration, limit int) *Outbox {
	if limit < 1 {
		limit = 1
	}
	return &Outbox{conn: conn, timeout: timeout, limit: limit, done: make(chan struct{}), room: make(chan struct{}, 1)}
}

// Send queues b, which must not be modified afterwards (it may be shared by
// many Outboxes). It reports whether b was queued.
func (o *Outbox) Send(b []byte, droppable bool) bool {
	return o.send(b, droppable, false)
}

// SendLast queues b as the connection's final message (a WebSocket close
// frame): anything sent after it is refused, because a peer that received
// a close frame must get nothing more (browsers fail the socket with "Data
// frame received after close"). What was queued before still goes first.
func (o *Outbox) SendLast(b []byte) bool {
	return o.send(b, false, true)
}

// SendWait queues a must-deliver b, like Send(b, false), except that a
// full queue makes it wait (up to the write timeout, 10 s without one) for
// the writer to take the queue, instead of closing at once. A reader that
// answers requests calls it: a client that sends many requests in one
// write and reads the answers is slowed to its own reading pace, and one
// that never reads is still closed.
func (o *Outbox) SendWait(b []byte) bool {
	var timer *time.Timer
	o.mu.Lock()
	for len(o.queue) >= o.limit && !o.closed && !o.last {
		if timer == nil {
			d := o.timeout
			if d <= 0 {
				d = 10 * time.Second
			}
			timer = time.NewTimer(d)
			defer timer.Stop()
		}
		o.mu.Unlock()
		select {
		case <-o.room:
		case <-o.done:
		case <-timer.C:
			o.mu.Lock()
			o.closeLocked(ErrSlow)
			o.mu.Unlock()
			return false
		}
		o.mu.Lock()
	}
	o.mu.Unlock()
	return o.send(b, false, false)
}

func (o *Outbox) send(b []byte, droppable, last bool) bool {
	o.mu.Lock()
	if o.closed || o.last {
		o.mu.Unlock()
		return false
	}
	if len(o.queue) >= o.limit {
		if droppable {
			o.mu.Unlock()
			o.dropped.Add(1)
			return false
		}
		o.closeLocked(ErrSlow)
		o.mu.Unlock()
		return false
	}
	o.queue = append(o.queue, b)
	o.last = last
	if !o.writing {
		o.writing = true
		go o.drain()
	}
	o.mu.Unlock()
	return true
}

func (o *Outbox) drain() {
	for {
		o.mu.Lock()
		if len(o.queue) == 0 || o.closed {
			o.writing = false
			if o.closed {
				close(o.done)
				o.queue = nil
			}
			o.mu.Unlock()
			return
		}
		q := o.queue
		o.queue = o.spare[:0]
		o.mu.Unlock()
		select {
		case o.room <- struct{}{}:
		default:
		}

		if o.timeout > 0 {
			_ = o.conn.SetWriteDeadline(time.Now().Add(o.timeout))
		}
		var err error
		if len(q) == 1 {
			_, err = o.conn.Write(q[0]) // the usual case: no writev bookkeeping
		} else {
			o.bufs = append(o.bufs[:0], q...)
			_, err = o.bufs.WriteTo(o.conn)
			clear(o.bufs[:cap(o.bufs)])
		}
		clear(q)
		o.mu.Lock()
		o.spare = q[:0]
		if err != nil {
			o.closeLocked(err)
		}
		o.mu.Unlock()
	}
}

// closeLocked shuts the connection so the reader of this connection sees an
// error and cleans up; the owner still calls Close.
func (o *Outbox) closeLocked(err error) {
	if o.closed {
		return
	}
	o.closed = true
	o.err = err
	_ = o.conn.Close()
	if !o.writing {
		close(o.done)
	}
}

// Close drops what is queued and closes the connection.
func (o *Outbox) Close() {
	o.mu.Lock()
	o.closeLocked(ErrClosed)
	o.mu.Unlock()
}

// Flush closes the connection once everything queued so far is written, or
// when timeout passes, whichever comes first. Later Sends are refused.
func (o *Outbox) Flush(timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		o.mu.Lock()
		idle := !o.writing && len(o.queue) == 0
		if idle || o.closed {
			o.closeLocked(ErrClosed)
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
		select {
		case <-deadline.C:
			o.Close()
			return
		case <-tick.C:
		}
	}
}

// Done is closed when the Outbox has closed and no write is under way.
func (o *Outbox) Done() <-chan struct{} { return o.done }

// Err is why the Outbox closed, or nil while it is open.
func (o *Outbox) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// Dropped counts droppable messages refused because the queue was full.
func (o *Outbox) Dropped() uint64 { return o.dropped.Load() }
