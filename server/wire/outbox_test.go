package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func TestOutboxDeliversInOrder(t *testing.T) {
	s, c := tcpPair(t)
	o := NewOutbox(s, time.Second, 100)
	var want bytes.Buffer
	for i := 0; i < 50; i++ {
		msg := []byte{byte('a' + i%26), '\n'}
		want.Write(msg)
		if !o.Send(msg, false) {
			t.Fatalf("send %d refused", i)
		}
	}
	o.Flush(time.Second)
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("got %q, want %q", got, want.Bytes())
	}
}

// A peer that never reads fills its socket buffers; droppable messages are
// then dropped, a must-deliver one closes the connection, and Send never
// blocks the caller meanwhile.
func TestOutboxSlowPeer(t *testing.T) {
	s, _ := tcpPair(t)
	o := NewOutbox(s, 200*time.Millisecond, 4)
	big := make([]byte, 1<<20)
	start := time.Now()
	for i := 0; i < 64; i++ {
		o.Send(big, true)
	}
	// Blocking would take the 200 ms write timeout per message, 12.8 s.
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Send blocked for %v", d)
	}
	if o.Dropped() == 0 {
		t.Fatal("nothing dropped for a peer that never reads")
	}
	select {
	case <-o.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("write deadline did not close the connection")
	}
	if err := o.Err(); err == nil {
		t.Fatal("closed without a reason")
	}
	if o.Send([]byte("x"), false) {
		t.Fatal("send accepted after close")
	}
}

func TestOutboxOverflowOfRepliesCloses(t *testing.T) {
	s, _ := tcpPair(t)
	o := NewOutbox(s, time.Minute, 2)
	big := make([]byte, 8<<20) // stays in the drain for a while
	o.Send(big, false)
	o.Send(big, false)
	o.Send(big, false)
	o.Send(big, false)
	select {
	case <-o.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("overflow of replies did not close")
	}
	if !errors.Is(o.Err(), ErrSlow) {
		t.Fatalf("err = %v, want ErrSlow", o.Err())
	}
}

// After the last message (a close frame) nothing more goes out, droppable
// or not, while what was queued before it still does.
func TestOutboxNothingAfterLast(t *testing.T) {
	s, c := tcpPair(t)
	o := NewOutbox(s, time.Second, 100)
	o.Send([]byte("push1\n"), true)
	if !o.SendLast([]byte("close\n")) {
		t.Fatal("SendLast refused")
	}
	if o.Send([]byte("push2\n"), true) || o.Send([]byte("reply\n"), false) || o.SendLast([]byte("close2\n")) {
		t.Fatal("a message after the last one was queued")
	}
	o.Flush(time.Second)
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "push1\nclose\n" {
		t.Fatalf("got %q, want push1 then close", got)
	}
}

func TestIsCloseFrame(t *testing.T) {
	if !IsCloseFrame(CloseFrame(1000, "")) || IsCloseFrame(AppendFrame(nil, 0x1, []byte("x"))) || IsCloseFrame(nil) {
		t.Fatal("IsCloseFrame misjudges")
	}
}

// SendWait paces a sender to a peer that reads: every message arrives
// though ten times the queue's limit were sent at once; a peer that never
// reads is closed after the write timeout instead.
func TestOutboxSendWait(t *testing.T) {
	s, c := tcpPair(t)
	o := NewOutbox(s, 2*time.Second, 4)
	var want bytes.Buffer
	msgs := make([][]byte, 40)
	for i := range msgs {
		msgs[i] = []byte(fmt.Sprintf("reply %d\n", i))
		want.Write(msgs[i])
	}
	go func() {
		for i, msg := range msgs {
			if !o.SendWait(msg) {
				t.Errorf("reply %d refused", i)
				return
			}
		}
		o.Flush(2 * time.Second)
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("got %d bytes, want %d", len(got), want.Len())
	}

	s2, _ := tcpPair(t) // its peer never reads
	o2 := NewOutbox(s2, 200*time.Millisecond, 2)
	big := bytes.Repeat([]byte("x"), 1<<20)
	start := time.Now()
	for i := 0; i < 64; i++ {
		if !o2.SendWait(big) {
			break
		}
	}
	if o2.Err() == nil {
		t.Fatal("a peer that never reads was not closed")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("closed after %v", d)
	}
}
