package rtstat

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// BenchmarkFanout measures one push to N started WebSocket clients over
// real loopback sockets: encoding the frame once, queueing it for every
// client and the writes, until every client has read it. The clients'
// reading runs on the same cores, so this is an upper bound of the server's
// cost; bench/fanout.sh measures the server process alone.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, n int) {
	env := startService(b, Config{}, nil)
	var received atomic.Int64
	var wg sync.WaitGroup
	conns := make([]io.Closer, 0, n)
	for i := 0; i < n; i++ {
		c, br, _, err := ws.Dial(context.Background(), env.wsURL)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		var r io.Reader = c
		if br != nil {
			r = io.MultiReader(br, c)
		}
		c.Write(clientFrameBytes("interval::86400")) // the hub's own clock never fires
		c.Write(clientFrameBytes("start::"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				h, err := ws.ReadHeader(r)
				if err != nil {
					return
				}
				if _, err := io.ReadFull(r, buf[:h.Length]); err != nil {
					return
				}
				if bytes.HasPrefix(buf[:h.Length], []byte("Push::")) {
					received.Add(1)
				}
			}
		}()
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	var subs []*session
	deadline := time.Now().Add(10 * time.Second)
	for len(subs) < n && time.Now().Before(deadline) {
		subs = subs[:0]
		env.svc.mu.Lock()
		for c := range env.svc.sessions {
			if c.sess.started {
				subs = append(subs, &c.sess)
			}
		}
		env.svc.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	if len(subs) < n {
		b.Fatalf("%d of %d clients started", len(subs), n)
	}
	json := []byte(`{"cpu_stat":{"cpu0":{"usage":0.12,"user":0.08,"system":0.03,"iowait":0.01}},"meminfo":{"memory":{"total":3884328,"used":3512084,"free":372244,"apps":1214148,"buffers":190716,"cached":2107220,"swapCached":0},"swap":{"total":0,"used":0,"free":0}},` + strings.Repeat(`"pad":"`+strings.Repeat("x", 100)+`",`, 10) + `"end":1}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want := received.Load() + int64(n)
		f := encodePush(json)
		for _, s := range subs {
			s.Push(f)
		}
		for received.Load() < want {
			time.Sleep(50 * time.Microsecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/client")
}

func clientFrameBytes(s string) []byte {
	var buf bytes.Buffer
	_ = ws.WriteFrame(&buf, ws.MaskFrame(ws.NewTextFrame([]byte(s))))
	return buf.Bytes()
}
