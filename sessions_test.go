package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"edgestat/server/store"
)

func postSession(t *testing.T, base, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(base+"/post/", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /post/ %s: %d %v %v", body, resp.StatusCode, m, err)
	}
	return m
}

// TestSessionTrafficIsStored runs a session in the whole program: its
// packets go through a probe of its own, so its reports are in
// /traffic/data under its probe id.
func TestSessionTrafficIsStored(t *testing.T) {
	addr, _, _, _ := startApp(t, []string{"--stats-period", "1s", "--session-max-cpu", "0"}, nil)
	base := "http://" + addr
	s := postSession(t, base, `{"count": 5000, "plain_stream": true}`)
	c, err := net.Dial("tcp", strings.TrimPrefix(s["location"].(string), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(c)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; ; n++ {
		if _, _, err := r.ReadPacketData(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if n != 5000 {
		t.Fatalf("stream: %d packets", n)
	}
	probeID := int(s["probe_id"].(float64))
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/traffic/data?period=hour&probe=" + strconv.Itoa(probeID))
		if err != nil {
			t.Fatal(err)
		}
		var rows [][]any
		json.NewDecoder(resp.Body).Decode(&rows)
		resp.Body.Close()
		var packets float64
		for _, row := range rows {
			if row[5] == "99" { // the root node counts every packet once
				packets += row[10].(float64)
			}
		}
		if packets == 5000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/traffic/data of probe %d counts %v packets, want 5000", probeID, packets)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRestartAbortsSessions kills the program while sessions run: on the
// next start they are marked aborted and their files are gone.
func TestRestartAbortsSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the program twice")
	}
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"--data", dir, "--session-max-cpu", "0"} // the tests beside keep the CPUs busy
	c := startChild(t, args...)
	var ids []string
	for _, body := range []string{`{"count": 10000000, "plain_stream": false}`, `{"count": 1000, "plain_stream": true}`} {
		ids = append(ids, postSession(t, c.base, body)["session_id"].(string))
	}
	// The segmented one streams to a client that reads slowly, so that it
	// is mid-way with files on disk when the process dies.
	resp, err := http.Get(c.base + "/sessions/" + ids[0])
	if err != nil {
		t.Fatal(err)
	}
	var in struct{ Location string }
	json.NewDecoder(resp.Body).Decode(&in)
	resp.Body.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(in.Location, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		io.CopyN(io.Discard, conn, 1<<20)
		if files, _ := os.ReadDir(filepath.Join(dir, "sessions", ids[0])); len(files) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the segmented session wrote no segment")
		}
	}
	c.kill()

	c = startChild(t, args...)
	if left, _ := os.ReadDir(filepath.Join(dir, "sessions")); len(left) != 0 {
		t.Fatalf("files left after the restart: %v", left)
	}
	resp, err = http.Get(c.base + "/sessions")
	if err != nil {
		t.Fatal(err)
	}
	var listed []any
	json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if len(listed) != 0 {
		t.Fatalf("sessions of the dead process listed: %v", listed)
	}
	c.stop(t)
	st, err := store.Open(context.Background(), dir, schema, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range ids {
		var state string
		var deleted int
		if err := st.DB().QueryRow(`SELECT state, files_deleted FROM sessions WHERE id = ?`, id).Scan(&state, &deleted); err != nil {
			t.Fatal(err)
		}
		if state != "aborted" || deleted != 1 {
			t.Fatalf("session %s: state %s, files deleted %d", id, state, deleted)
		}
	}
}
