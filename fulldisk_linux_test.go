package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFullDisk runs the program on a data directory of its own 16 MB tmpfs
// and fills it: /healthz must answer 503 with the reason while writes
// fail (it said "ok" before), the reports waiting must stay within
// 4 × --flush-rows (the batch failing to be written included), and both
// must come back once there is room again.
func TestFullDisk(t *testing.T) {
	needRoot(t, "it mounts a tmpfs")
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "edgestat-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	data := filepath.Join(dir, "data")
	const flushRows = 200
	a := launch(t, []string{"--data", data, "--flush-rows", fmt.Sprint(flushRows), "--flush-interval", "200ms", "--emulator-rate", "2000"}, nil)
	base := "http://" + a.addr

	type health struct {
		Status, Store string
	}
	healthz := func() (int, health) {
		t.Helper()
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h health
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, h
	}
	pending := func() int {
		_, n := getStatus(t, base)
		return n
	}
	if code, h := healthz(); code != http.StatusOK {
		t.Fatalf("/healthz before: %d %+v", code, h)
	}

	// Fill what is left of the tmpfs.
	filler := filepath.Join(dir, "filler")
	out, _ := exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=64k").CombinedOutput()
	if !strings.Contains(string(out), "No space left") {
		t.Fatalf("dd did not fill the tmpfs: %s", out)
	}
	var code int
	var h health
	maxPending := 0
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code, h = healthz(); code == http.StatusServiceUnavailable {
			break
		}
	}
	if code != http.StatusServiceUnavailable || h.Status != "degraded" || !strings.Contains(h.Store, "writes failing") {
		t.Fatalf("/healthz with the disk full: %d %+v, want 503 saying writes fail", code, h)
	}
	t.Logf("/healthz with the disk full: %d %+v", code, h)
	// Reports from outside on top of the emulator's: more than the bound.
	go func() {
		var body strings.Builder
		now := time.Now().UnixMilli()
		for i := range 3 * flushRows {
			fmt.Fprintf(&body, "[99,9,\"full\",%d,99,\"99\",1,0,100,80,%d]\n", now+int64(i), i+1)
		}
		c := &http.Client{Timeout: 5 * time.Second} // it waits for room that does not come
		if resp, err := c.Post(base+"/traffic/reports", "text/plain", strings.NewReader(body.String())); err == nil {
			resp.Body.Close()
		}
	}()
	for range 25 {
		maxPending = max(maxPending, pending())
		time.Sleep(200 * time.Millisecond)
	}
	if maxPending > 4*flushRows {
		t.Errorf("%d reports waited, bound 4 × --flush-rows = %d", maxPending, 4*flushRows)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if code, h = healthz(); code == http.StatusOK {
			break
		}
	}
	if code != http.StatusOK || h.Store != "ok" {
		t.Fatalf("/healthz after room came back: %d %+v", code, h)
	}
	t.Logf("at most %d reports waited while the disk was full; healthy again after", maxPending)
}
