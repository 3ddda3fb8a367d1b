package rtstat

import (
	"testing"
	"time"
)

// TestStats: clients are counted by transport while connected, pushes as
// they are queued, and the hub's figures come along.
func TestStats(t *testing.T) {
	env := startService(t, Config{}, nil)
	raw := dialRaw(t, env.rawAddr)
	expect(t, raw, "Welcome::Rt-Stat compatible edgestat v9.9.9")
	wsc := dialWS(t, env.wsURL)
	expect(t, wsc, "Welcome::Rt-Stat compatible edgestat v9.9.9")
	if st := env.svc.Stats(); st.Raw != 1 || st.WebSocket != 1 || st.Pushes != 0 {
		t.Fatalf("stats %+v, want one client of each, no push", st)
	}
	for _, c := range []client{raw, wsc} {
		c.send(t, "interval::0.5")
		c.send(t, "start")
		expectPush(t, c, 3*time.Second)
	}
	st := env.svc.Stats()
	if st.Pushes < 2 || st.Intervals != 1 || st.Collections < 1 {
		t.Fatalf("stats %+v after two clients got a push", st)
	}
	raw.close()
	deadline := time.Now().Add(3 * time.Second)
	for env.svc.Stats().Raw != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a closed raw client is still counted: %+v", env.svc.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := env.svc.Stats(); st.WebSocket != 1 {
		t.Fatalf("stats %+v", st)
	}
}
