package proc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the generated files under testdata")

// utmpRecord is glibc's struct utmp on Linux (bits/utmp.h), the fields laid
// out at their offsets in a 384-byte record:
//
//	0   short   ut_type  (+2 bytes padding)
//	4   pid_t   ut_pid
//	8   char    ut_line[32]
//	40  char    ut_id[4]
//	44  char    ut_user[32]
//	76  char    ut_host[256]
//	332 short   ut_exit.e_termination, short ut_exit.e_exit
//	336 int32   ut_session
//	340 int32   ut_tv.tv_sec, int32 ut_tv.tv_usec
//	348 int32   ut_addr_v6[4]
//	364 char    __glibc_reserved[20]
type utmpRecord struct {
	Type    int16
	PID     int32
	Line    string
	ID      string
	User    string
	Host    string
	Session int32
	Time    time.Time
	Addr    [4]byte // IPv4 in ut_addr_v6[0]
}

// Record types of utmp(5).
const (
	utRunLvl       = 1
	utBootTime     = 2
	utLoginProcess = 6
	utUserProcess  = 7
	utDeadProcess  = 8
)

// appendUtmpRecord appends r in the glibc layout with the given byte order
// (native order of the machine that wrote the file).
func appendUtmpRecord(dst []byte, r utmpRecord, order binary.ByteOrder) []byte {
	var rec [UtmpRecordSize]byte
	order.PutUint16(rec[0:], uint16(r.Type))
	order.PutUint32(rec[4:], uint32(r.PID))
	copy(rec[8:40], r.Line)
	copy(rec[40:44], r.ID)
	copy(rec[44:76], r.User)
	copy(rec[76:332], r.Host)
	order.PutUint32(rec[336:], uint32(r.Session))
	if !r.Time.IsZero() {
		order.PutUint32(rec[340:], uint32(r.Time.Unix()))
		order.PutUint32(rec[344:], uint32(r.Time.Nanosecond()/1000))
	}
	copy(rec[348:352], r.Addr[:])
	return append(dst, rec[:]...)
}

// utmpSession is what a Raspberry Pi's utmp holds after a boot, two gettys,
// three SSH logins (one with an empty ut_user, which procps skips) and a
// logout (glibc's logout(3) clears ut_user and ut_host).
func utmpSession(order binary.ByteOrder) []byte {
	boot := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)
	recs := []utmpRecord{
		{Type: utBootTime, Line: "~", ID: "~~", User: "reboot", Host: "6.6.20+rpt-rpi-v8", Time: boot},
		{Type: utRunLvl, PID: '5', Line: "~", ID: "~~", User: "runlevel", Host: "6.6.20+rpt-rpi-v8", Time: boot.Add(9 * time.Second)},
		{Type: utLoginProcess, PID: 612, Line: "tty1", ID: "tty1", User: "LOGIN", Session: 612, Time: boot.Add(10 * time.Second)},
		{Type: utLoginProcess, PID: 615, Line: "ttyS0", ID: "tyS0", User: "LOGIN", Session: 615, Time: boot.Add(10 * time.Second)},
		{Type: utUserProcess, PID: 1234, Line: "pts/0", ID: "ts/0", User: "pi", Host: "192.168.1.10", Session: 1234, Time: boot.Add(time.Hour), Addr: [4]byte{192, 168, 1, 10}},
		{Type: utUserProcess, PID: 1240, Line: "pts/1", ID: "ts/1", User: "root", Host: "10.0.0.2", Session: 1240, Time: boot.Add(2 * time.Hour), Addr: [4]byte{10, 0, 0, 2}},
		{Type: utUserProcess, PID: 1290, Line: "pts/3", ID: "ts/3", User: "", Session: 1290, Time: boot.Add(3 * time.Hour)},
		{Type: utDeadProcess, PID: 1100, Line: "pts/2", ID: "ts/2", Session: 1100, Time: boot.Add(90 * time.Minute)},
	}
	var b []byte
	for _, r := range recs {
		b = appendUtmpRecord(b, r, order)
	}
	return b
}

const utmpFixture = "synthetic-utmp/var/run/utmp"

// TestUtmpFixture checks that the checked-in utmp is what the helper writes
// (go test -run TestUtmpFixture -update rewrites it) and counts it.
func TestUtmpFixture(t *testing.T) {
	want := utmpSession(binary.LittleEndian)
	path := filepath.Join("testdata", utmpFixture)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := fixture(t, utmpFixture)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from utmpSession(): run with -update", path)
	}
	n, err := CountUtmpUsers(got)
	if err != nil || n != 2 {
		t.Errorf("CountUtmpUsers = %d, %v; want 2, nil", n, err)
	}
}

func TestCountUtmpUsers(t *testing.T) {
	le := utmpSession(binary.LittleEndian)
	be := utmpSession(binary.BigEndian)
	tests := []struct {
		name    string
		data    []byte
		want    int
		wantErr bool
	}{
		{"empty", nil, 0, false},
		{"little endian", le, 2, false},
		{"big endian (MIPS router)", be, 2, false},
		{"cut short mid-record", le[:5*UtmpRecordSize+100], 1, true},
		{"garbage", []byte("garbage"), 0, true},
		{"zeros", make([]byte, 3*UtmpRecordSize), 0, false},
	}
	for _, tt := range tests {
		n, err := CountUtmpUsers(tt.data)
		if n != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: CountUtmpUsers = %d, %v; want %d, error %v", tt.name, n, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrParse) {
			t.Errorf("%s: error does not wrap ErrParse: %v", tt.name, err)
		}
	}
}

func TestReadUsers(t *testing.T) {
	n, _, err := ReadUsers(FS("testdata/synthetic-utmp"), nil)
	if err != nil || n != 2 {
		t.Errorf("ReadUsers(fixture) = %d, %v; want 2, nil", n, err)
	}

	// Missing utmp (OpenWrt, containers): 0 users, no error, like procps.
	n, _, err = ReadUsers(FS("testdata/router-arm-zte-zx279128"), nil)
	if err != nil || n != 0 {
		t.Errorf("ReadUsers(no utmp) = %d, %v; want 0, nil", n, err)
	}

	// /run/utmp when /var/run is not a link to /run.
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "run/utmp"), utmpSession(binary.LittleEndian), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, _, err = ReadUsers(FS(root), nil); err != nil || n != 2 {
		t.Errorf("ReadUsers(/run/utmp) = %d, %v; want 2, nil", n, err)
	}

	// A utmp that exists but cannot be read is an error.
	root = t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "var/run/utmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err = ReadUsers(FS(root), nil); err == nil {
		t.Error("ReadUsers(utmp is a directory): no error")
	}
}

func FuzzCountUtmpUsers(f *testing.F) {
	f.Add(utmpSession(binary.LittleEndian))
	f.Add(utmpSession(binary.BigEndian))
	for _, s := range brokenInputs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := CountUtmpUsers(data)
		if err != nil && !errors.Is(err, ErrParse) {
			t.Fatalf("error does not wrap ErrParse: %v", err)
		}
		if n < 0 || n > len(data)/UtmpRecordSize {
			t.Fatalf("%d users in %d bytes", n, len(data))
		}
	})
}

func BenchmarkCountUtmpUsers(b *testing.B) {
	data := utmpSession(binary.LittleEndian)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CountUtmpUsers(data); err != nil {
			b.Fatal(err)
		}
	}
}
