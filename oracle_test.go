package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"edgestat/probe"
)

// phsCount is one protocol's line of tshark's protocol hierarchy.
type phsCount struct{ Frames, Bytes uint64 }

// parsePHS reads the output of `tshark -q -z io,phs` into per-protocol
// totals. A protocol appears at several depths (tcp under ip and under
// ipv6): its counts are summed over every place it stands.
func parsePHS(out []byte) (map[string]phsCount, error) {
	got := map[string]phsCount{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	in := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Filter:") {
			in = true
			continue
		}
		if !in || strings.HasPrefix(line, "====") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || !strings.HasPrefix(f[1], "frames:") || !strings.HasPrefix(f[2], "bytes:") {
			return nil, fmt.Errorf("phs line %q: want NAME frames:N bytes:N", line)
		}
		frames, err1 := strconv.ParseUint(strings.TrimPrefix(f[1], "frames:"), 10, 64)
		b, err2 := strconv.ParseUint(strings.TrimPrefix(f[2], "bytes:"), 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("phs line %q: bad number", line)
		}
		c := got[f[0]]
		c.Frames += frames
		c.Bytes += b
		got[f[0]] = c
	}
	if !in {
		return nil, fmt.Errorf("no protocol hierarchy in tshark's output")
	}
	return got, sc.Err()
}

func TestParsePHS(t *testing.T) {
	out := []byte(`
===================================================================
Protocol Hierarchy Statistics
Filter: 

eth                                      frames:60 bytes:26866
  ip                                     frames:58 bytes:26000
    tcp                                  frames:53 bytes:24045
      smtp                               frames:28 bytes:15335
  ipv6                                   frames:2 bytes:866
    tcp                                  frames:2 bytes:866
===================================================================
`)
	got, err := parsePHS(out)
	if err != nil {
		t.Fatal(err)
	}
	if got["tcp"] != (phsCount{55, 24911}) || got["eth"] != (phsCount{60, 26866}) || got["smtp"] != (phsCount{28, 15335}) {
		t.Fatalf("got %v", got)
	}
	for _, bad := range []string{"", "Filter:\neth frames:x bytes:1\n", "Filter:\neth 1 2\n"} {
		if _, err := parsePHS([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParsePHS(f *testing.F) {
	f.Add([]byte("Filter: \n\neth frames:1 bytes:60\n  ip frames:1 bytes:60\n===\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parsePHS(b)
		if err == nil && got == nil {
			t.Fatal("nil map without error")
		}
	})
}

// needTool returns the path of a system tool, skipping the test loudly
// when it is missing outside CI and failing it in CI, where .ci/run
// installs it.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not installed (Debian package %s): this test needs it", name, pkg)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED: " + msg)
	return ""
}

// needRoot skips the test loudly when not root outside CI and fails it in
// CI, where .ci/run runs as root.
func needRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	msg := "this test needs root: " + why
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED: " + msg)
}

// tsharkFiltered counts the frames, and their bytes, that a display filter
// keeps.
func tsharkFiltered(t *testing.T, tshark, file, filter string) phsCount {
	t.Helper()
	out, err := exec.Command(tshark, "-r", file, "-Y", filter, "-T", "fields", "-e", "frame.len").Output()
	if err != nil {
		t.Fatalf("tshark -Y %q: %v", filter, err)
	}
	var c phsCount
	for _, f := range strings.Fields(string(out)) {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			t.Fatalf("tshark frame.len %q: %v", f, err)
		}
		c.Frames++
		c.Bytes += n
	}
	return c
}

// The probe against an independent oracle: tshark's protocol hierarchy of
// the emulator's capture and of real public captures, compared per protocol
// with the format 99 totals of `edgestat report`.
func TestProbeMatchesTshark(t *testing.T) {
	tshark := needTool(t, "tshark", "tshark")
	emulated := filepath.Join(t.TempDir(), "emulated.pcap")
	if err := run(context.Background(), []string{"emulate", "--count", "5000", "--seed", "7", "--out", emulated}, func(string) string { return "" }, io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.Glob("testdata/pcaps/*.pcap*")
	if len(real) < 3 {
		t.Fatalf("real captures missing: %v", real)
	}
	for _, file := range append([]string{emulated}, real...) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			out, err := exec.Command(tshark, "-r", file, "-q", "-z", "io,phs").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			oracle, err := parsePHS(out)
			if err != nil {
				t.Fatal(err)
			}
			var csv bytes.Buffer
			if err := run(context.Background(), []string{"report", file}, func(string) string { return "" }, &csv, io.Discard, nil); err != nil {
				t.Fatal(err)
			}
			// Every node of a packet's path has its own row, so summing the
			// rows of one protocol id, over every path and period, gives
			// that protocol's packets and bytes.
			probeTotals := map[uint32]phsCount{}
			for _, line := range bytes.Split(bytes.TrimSpace(csv.Bytes()), []byte("\n")) {
				row, err := probe.ParseRow(line)
				if err != nil {
					t.Fatalf("report line %q: %v", line, err)
				}
				if s, ok := row.(*probe.StatRow); ok {
					c := probeTotals[s.App]
					c.Frames += s.Packets
					c.Bytes += s.Bytes
					probeTotals[s.App] = c
				}
			}
			for _, p := range []struct {
				name string
				id   uint32
			}{{"eth", 99}, {"ip", 178}, {"ipv6", 182}, {"tcp", 354}, {"udp", 376}, {"dns", 85}} {
				if got, want := probeTotals[p.id], oracle[p.name]; got != want {
					t.Errorf("%s: probe %d frames %d bytes, tshark %d frames %d bytes", p.name, got.Frames, got.Bytes, want.Frames, want.Bytes)
				}
			}
			// HTTP and TLS differ from the hierarchy by design, and each
			// difference is accounted for by a second tshark query:
			// tshark files a frame under http or tls only where a message
			// is dissected (the frame ending a reassembled message; the
			// segments before it stay plain "tcp"), and leaves port-80
			// payload that is not HTTP as "tcp". The probe counts every
			// packet that carries payload in a flow it classified: by its
			// content, or by the port when the content says nothing (the
			// port fallback). So its totals are exactly tshark's frames
			// with TCP payload on those ports, and never below the
			// hierarchy's.
			for _, p := range []struct {
				name   string
				id     uint32
				filter string
			}{{"http", 153, "tcp.len > 0 && tcp.port == 80"}, {"tls", 341, "tcp.len > 0 && tcp.port == 443"}} {
				got := probeTotals[p.id]
				if want := tsharkFiltered(t, tshark, file, p.filter); got != want {
					t.Errorf("%s: probe %d frames %d bytes, tshark (%s) %d frames %d bytes", p.name, got.Frames, got.Bytes, p.filter, want.Frames, want.Bytes)
				}
				if h := oracle[p.name]; got.Frames < h.Frames || got.Bytes < h.Bytes {
					t.Errorf("%s: probe %d frames %d bytes, below tshark's hierarchy %d frames %d bytes", p.name, got.Frames, got.Bytes, h.Frames, h.Bytes)
				}
			}
			t.Logf("eth %v ip %v ipv6 %v tcp %v udp %v dns %v http %v tls %v", probeTotals[99], probeTotals[178], probeTotals[182], probeTotals[354], probeTotals[376], probeTotals[85], probeTotals[153], probeTotals[341])
		})
	}
}
