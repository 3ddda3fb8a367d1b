package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// One address holds at most MaxConnsPerIP connections; a closed one gives
// its place back, and other addresses are not affected.
func TestConnsPerIP(t *testing.T) {
	ts := startServer(t, Config{Addr: "127.0.0.1:0", MaxConnsPerIP: 3, CapLoopback: true})
	addr := ts.srv.Endpoints()[0].Addr.String()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	welcome := func(c net.Conn) error {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := bufio.NewReader(c).ReadString('\n')
		return err
	}
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if err := welcome(c); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := extra.Read(make([]byte, 64)); err != io.EOF {
		t.Fatalf("a fourth connection from one address: read %d bytes, %v; want it closed", n, err)
	}
	if ts.srv.perIP.refused() != 1 {
		t.Fatalf("refused = %d", ts.srv.perIP.refused())
	}
	held[0].Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if welcome(c) == nil {
			held = append(held, c)
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("a closed connection did not give its place back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Headers over 16 KiB get 431; headers trickled slower than the header
// timeout (slowloris) get the connection closed.
func TestHeaderLimits(t *testing.T) {
	ts := startServer(t, Config{Addr: "127.0.0.1:0", HeaderTimeout: 300 * time.Millisecond})
	addr := ts.srv.Endpoints()[0].Addr.String()
	req, _ := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB of headers: %d, want 431", resp.StatusCode)
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: box\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("a client trickling its headers was still connected after 5 s")
			}
			break
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v, want about the 300 ms header timeout", d)
	}
	// Others are served all along.
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz beside it: %v", err)
	} else {
		resp.Body.Close()
	}
}
