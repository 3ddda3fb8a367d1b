package operator

import (
	"testing"
)

// TestStats: a session counts as started and by its state, its stream
// clients and its segment files show.
func TestStats(t *testing.T) {
	e := newEnv(t, Config{SegmentPackets: 1000})
	if st := e.m.Stats(); st != (Stats{}) {
		t.Fatalf("stats %+v before any session", st)
	}
	s := e.start(t, `{"count": 3000, "plain_stream": false}`)
	if st := e.m.Stats(); st.Started != 1 || st.ByState[0]+st.ByState[1] != 1 {
		t.Fatalf("stats %+v with one session starting", st)
	}
	if got := readStream(t, s.Location); len(got) != 3000 {
		t.Fatalf("stream: %d packets", len(got))
	}
	waitState(t, e, s.SessionID, StateFinished)
	e.m.files.at = e.m.files.at.AddDate(0, 0, -1) // the size is cached: look again
	st := e.m.Stats()
	if st.Started != 1 || st.ByState[2] != 1 || States[2] != StateFinished || st.StreamClients != 0 || st.FileBytes <= 24 {
		t.Fatalf("stats %+v after the session finished", st)
	}
}
