package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"edgestat/probe"
)

// pcapRecords splits a classic little-endian pcap file into its header and
// records (each with its own 16-byte header).
func pcapRecords(t *testing.T, b []byte) (hdr []byte, recs [][]byte) {
	t.Helper()
	hdr, b = b[:24], b[24:]
	for len(b) > 0 {
		n := 16 + int(binary.LittleEndian.Uint32(b[8:]))
		recs = append(recs, b[:n])
		b = b[n:]
	}
	return hdr, recs
}

// toolFrames counts the packets tcpdump and tshark read from a file.
func toolFrames(t *testing.T, tcpdump, tshark, file string) (td, ts int) {
	t.Helper()
	// Both exit non-zero on a damaged file after printing what they read.
	out, _ := exec.Command(tcpdump, "-nn", "-r", file).Output()
	td = bytes.Count(out, []byte("\n"))
	out, _ = exec.Command(tshark, "-r", file, "-T", "fields", "-e", "frame.number").Output()
	ts = len(strings.Fields(string(out)))
	return td, ts
}

// ethernetFrames sums the packets of path "99" in format 99 rows.
func ethernetFrames(t *testing.T, csv []byte) (n uint64) {
	t.Helper()
	for line := range bytes.Lines(csv) {
		r, err := probe.ParseRow(bytes.TrimSuffix(line, []byte("\n")))
		if err != nil {
			t.Fatalf("report line %q: %v", line, err)
		}
		if s, ok := r.(*probe.StatRow); ok && s.Path == "99" {
			n += s.Packets
		}
	}
	return n
}

// TestDamagedCaptures reads captures as tcpdump and tshark do: a file cut
// in its last record's data or header keeps every packet before it (and
// exits 2), a record whose captured length exceeds its original length is
// read with the original length, runts of 0 and 8 bytes are frames. Path
// "99" of the report counts what both tools count.
func TestDamagedCaptures(t *testing.T) {
	tcpdump := needTool(t, "tcpdump", "tcpdump")
	tshark := needTool(t, "tshark", "tshark")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.pcap")
	if err := run(context.Background(), []string{"emulate", "--count", "300", "--seed", "11", "--out", src}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{}, nil); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	hdr, recs := pcapRecords(t, good)
	last := len(recs[len(recs)-1])
	join := func(rs [][]byte) []byte { return append(bytes.Clone(hdr), bytes.Join(rs, nil)...) }

	capOverLen := join(recs)
	{ // record 4: original length 10 bytes under the captured length
		off := 24
		for _, r := range recs[:3] {
			off += len(r)
		}
		orig := binary.LittleEndian.Uint32(capOverLen[off+12:])
		binary.LittleEndian.PutUint32(capOverLen[off+12:], orig-10)
	}
	runts := make([][]byte, 0, len(recs))
	for i, r := range recs {
		keep := -1
		switch i {
		case 5:
			keep = 0
		case 9:
			keep = 8
		}
		if keep < 0 {
			runts = append(runts, r)
			continue
		}
		x := bytes.Clone(r[:16+keep])
		binary.LittleEndian.PutUint32(x[8:], uint32(keep))
		runts = append(runts, x)
	}

	for _, c := range []struct {
		name    string
		b       []byte
		packets int // what tcpdump and tshark read
		partial bool
		warn    string
	}{
		{"cut by 7 bytes", good[:len(good)-7], len(recs) - 1, true, "packet 300: file cut short in the packet data"},
		{"cut in a record header", good[:len(good)-last+9], len(recs) - 1, true, "packet 300: file cut short in the record header (9 of 16 bytes)"},
		{"captured length over the original", capOverLen, len(recs), false, "the first is packet 4"},
		{"runts of 0 and 8 bytes", join(runts), len(recs), false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".pcap")
			if err := os.WriteFile(file, c.b, 0o644); err != nil {
				t.Fatal(err)
			}
			td, ts := toolFrames(t, tcpdump, tshark, file)
			if td != c.packets || ts != c.packets {
				t.Fatalf("tcpdump read %d packets, tshark %d; the test expects %d", td, ts, c.packets)
			}
			var out, stderr bytes.Buffer
			err := run(context.Background(), []string{"report", file}, func(string) string { return "" }, &out, &stderr, nil)
			var status exitStatus
			switch {
			case c.partial && !(errors.As(err, &status) && status == 2):
				t.Fatalf("report: %v, want exit status 2\n%s", err, stderr.String())
			case !c.partial && err != nil:
				t.Fatalf("report: %v\n%s", err, stderr.String())
			}
			if got := ethernetFrames(t, out.Bytes()); got != uint64(c.packets) {
				t.Errorf("path 99 counts %d packets, tcpdump and tshark %d", got, c.packets)
			}
			if !strings.Contains(stderr.String(), c.warn) || !strings.Contains(stderr.String(), strconv.Itoa(c.packets)+" packets") {
				t.Errorf("stderr does not say %q and the packet count:\n%s", c.warn, stderr.String())
			}
		})
	}
}
