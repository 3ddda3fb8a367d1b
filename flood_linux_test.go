package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// floodSeconds is how long TestLiveFlowFlood floods: 20 s by default
// (CI), EDGESTAT_FLOOD_SECONDS=600 for the ten-minute run of BENCH.md.
func floodSeconds(t *testing.T) int {
	if v := os.Getenv("EDGESTAT_FLOOD_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 {
			t.Fatalf("EDGESTAT_FLOOD_SECONDS=%q: want 5 or more", v)
		}
		return n
	}
	return 20
}

// netnsPair makes two network namespaces joined by a veth pair (IPv6 off,
// so only the replayed frames cross) and returns their names and the
// interfaces; they are deleted in t.Cleanup.
func netnsPair(t *testing.T) (nsA, ifA, nsB, ifB string) {
	t.Helper()
	needRoot(t, "network namespaces and packet capture")
	ip := needTool(t, "ip", "iproute2")
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	nsA, nsB, ifA, ifB = "edgestat-fa-"+id, "edgestat-fb-"+id, "efa"+id, "efb"+id
	cmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{nsA, nsB} {
		cmd("netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", ns).Run() })
		cmd("netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
		cmd("-n", ns, "link", "set", "lo", "up")
	}
	cmd("link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB)
	cmd("-n", nsA, "link", "set", ifA, "up")
	cmd("-n", nsB, "link", "set", ifB, "up")
	return nsA, ifA, nsB, ifB
}

// procSample is a process's CPU time (clock ticks) and RSS (kB) now.
func procSample(t *testing.T, pid int) (ticks uint64, rssKB uint64) {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rssKB, _ = strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return ut + st, rssKB
}

var probeEnded = regexp.MustCompile(`msg="probe ended".* packets=(\d+) drops=(\d+) flows=(\d+) evicted=(\d+)`)

// TestLiveFlowFlood runs the program capturing on one end of a veth pair
// while tcpreplay sends a flow-heavy capture (edgestat emulate --scan,
// new addresses each loop) at the highest rate it reaches into the other
// end, in namespaces of the test's own. It reports the probe's CPU, the
// kernel's drops and the flows evicted, and requires the RSS to stay flat:
// the flow table is bounded and every operation on it O(1).
func TestLiveFlowFlood(t *testing.T) {
	tcpreplay := needTool(t, "tcpreplay", "tcpreplay")
	nsA, ifA, nsB, ifB := netnsPair(t)
	secs := floodSeconds(t)
	dir := t.TempDir()
	capFile := filepath.Join(dir, "flood.pcap")
	if err := run(context.Background(), []string{"emulate", "--scan", "--count", "200000", "--seed", "5", "--rate", "100000", "--out", capFile},
		func(string) string { return "" }, io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	c := startChildIn(t, []string{"ip", "netns", "exec", nsB}, "--capture", ifB, "--data", filepath.Join(dir, "data"), "--log-level", "info")
	pid := c.cmd.Process.Pid
	ticksPerSec := 100.0 // USER_HZ: 100 on every Linux port

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+60)*time.Second)
	defer cancel()
	replay := exec.CommandContext(ctx, "ip", "netns", "exec", nsA, tcpreplay, "-i", ifA, "--topspeed",
		"--loop=0", "--unique-ip", fmt.Sprintf("--duration=%d", secs), capFile)
	var replayOut bytes.Buffer
	replay.Stdout, replay.Stderr = &replayOut, &replayOut
	t0, _ := procSample(t, pid)
	start := time.Now()
	if err := replay.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- replay.Wait() }()
	var rss []uint64
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case err := <-waited:
			if err != nil {
				t.Fatalf("tcpreplay: %v\n%s", err, replayOut.String())
			}
			break loop
		case <-tick.C:
			_, r := procSample(t, pid)
			rss = append(rss, r)
		}
	}
	t1, _ := procSample(t, pid)
	elapsed := time.Since(start).Seconds()
	cpu := float64(t1-t0) / ticksPerSec / elapsed * 100
	time.Sleep(2 * time.Second) // the ring drains
	c.stop(t)

	m := probeEnded.FindStringSubmatch(c.log())
	if m == nil {
		t.Fatalf("no probe summary in the log:\n%s", c.log())
	}
	packets, _ := strconv.ParseUint(m[1], 10, 64)
	drops, _ := strconv.ParseUint(m[2], 10, 64)
	flows, _ := strconv.ParseUint(m[3], 10, 64)
	evicted, _ := strconv.ParseUint(m[4], 10, 64)
	sent := regexp.MustCompile(`Actual: (\d+) packets`).FindStringSubmatch(replayOut.String())
	if sent == nil {
		t.Fatalf("tcpreplay said no packet count:\n%s", replayOut.String())
	}
	// RSS: the first third may still fill the flow table (its pages are
	// touched as flows come); after that it must stay flat.
	third := len(rss) / 3
	if third < 2 {
		t.Fatalf("only %d RSS samples", len(rss))
	}
	early, late := slicesMax(rss[third:2*third]), slicesMax(rss[2*third:])
	t.Logf("flood of %.0f s: tcpreplay sent %s packets (%.0f/s); the probe read %d, the kernel dropped %d (%.1f %%); %d flows, %d evicted; process CPU %.0f %% of one core; RSS %d MB in the second third, %d MB in the last",
		elapsed, sent[1], mustFloat(sent[1])/elapsed, packets, drops, 100*float64(drops)/float64(max(packets+drops, 1)),
		flows, evicted, cpu, early>>10, late>>10)
	if evicted == 0 || packets == 0 {
		t.Errorf("the flood did not fill the flow table: %d packets, %d evicted", packets, evicted)
	}
	if late > early+4<<10 {
		t.Errorf("RSS grew from %d to %d kB over the flood", early, late)
	}
	for _, bad := range []string{"level=ERROR", "panic"} {
		if strings.Contains(c.log(), bad) {
			t.Errorf("the log has %s:\n%s", bad, c.log())
		}
	}
}

func slicesMax(s []uint64) uint64 {
	var m uint64
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

func mustFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
