package operator

import (
	"sync"
	"time"
)

// States are the session states, in the order of Stats.ByState.
var States = [...]string{StateWaiting, StateRunning, StateFinished, StateStopped, StateFailed, StateAborted}

// Stats are the Manager's figures for /metrics.
type Stats struct {
	ByState       [len(States)]int // listed sessions by state, indexed as States
	Started       uint64           // sessions started since the process began
	StreamClients int              // clients of the sessions' streams now
	FileBytes     int64            // bytes of segment files in the sessions' directory
}

// filesRefresh is how old the size of the session files may be: walking
// the directory costs a stat per segment file (thousands for long
// sessions), too much for every scrape of every scraper.
const filesRefresh = 10 * time.Second

// filesCache keeps the size of the session files between walks.
type filesCache struct {
	mu    sync.Mutex
	at    time.Time
	bytes int64
}

// Stats returns the Manager's figures.
func (m *Manager) Stats() Stats {
	var st Stats
	m.mu.Lock()
	for _, s := range m.sessions {
		s.mu.Lock()
		state := s.state
		s.mu.Unlock()
		for i, name := range States {
			if name == state {
				st.ByState[i]++
				break
			}
		}
		st.StreamClients += s.stream.Stats().Clients
	}
	m.mu.Unlock()
	st.Started = m.started.Load()
	m.files.mu.Lock()
	if now := time.Now(); now.Sub(m.files.at) >= filesRefresh {
		m.files.bytes, m.files.at = dirBytes(m.cfg.Dir), now
	}
	st.FileBytes = m.files.bytes
	m.files.mu.Unlock()
	return st
}
