package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"edgestat/server/store"
)

// TestKillLosesNothingStored: POST /traffic/reports answers "stored" only
// once its reports are committed. Ten rounds, each killing the program
// (SIGKILL) at a random moment while a client streams POSTs, then counting
// with SQL the reports of that client's source in the database: never
// fewer than the answers said were stored. Before, "stored" came before
// the commit (the flush interval is 5 minutes) and about 14,000
// acknowledged reports were lost in two rounds of five.
func TestKillLosesNothingStored(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the program ten times")
	}
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"--data", dir, "--emulator-rate", "10"} // the default --flush-interval 5m
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	base := time.Now().Add(-time.Hour).UnixMilli()
	next := 0 // the number of the next report sent, for distinct times
	var answered int64
	for round := range 10 {
		c := startChild(t, args...)
		ctx, cancel := context.WithCancel(context.Background())
		var roundStored atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			cl := &http.Client{Timeout: 40 * time.Second}
			for ctx.Err() == nil {
				var b strings.Builder
				for range 500 {
					fmt.Fprintf(&b, "[99,88,\"kill\",%d,178,\"99.178\",1,0,100,60,1]\n", base+int64(next))
					next++
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/traffic/reports", strings.NewReader(b.String()))
				resp, err := cl.Do(req)
				if err != nil {
					return // the kill
				}
				var a struct{ Stored int64 }
				err = json.NewDecoder(resp.Body).Decode(&a)
				resp.Body.Close()
				if err != nil {
					return // killed while answering
				}
				roundStored.Add(a.Stored)
			}
		}()
		time.Sleep(time.Duration(50+rng.IntN(1500)) * time.Millisecond)
		c.kill()
		cancel()
		<-done
		answered += roundStored.Load()

		st, err := store.Open(context.Background(), dir, schema, "test")
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		var found int64
		err = st.DB().QueryRow(`SELECT coalesce(sum(r.n), 0) FROM traffic_raw r JOIN traffic_sources s ON s.id = r.src
			WHERE s.probe = 88 AND s.source = 'kill'`).Scan(&found)
		st.Close()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Logf("round %d: %d reports answered as stored so far, %d in the database", round, answered, found)
		if found < answered {
			t.Fatalf("round %d: %d reports answered as stored, only %d in the database", round, answered, found)
		}
	}
	if answered == 0 {
		t.Fatal("no POST was answered in ten rounds")
	}
}
