package proc

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixture returns the content of testdata/<path>, failing the test when the
// file is missing.
func fixture(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fixturesNamed returns every testdata file whose path ends with suffix
// (e.g. "/proc/cpuinfo"), keyed by path, for seeding fuzzers and sweeping
// every machine with a parser.
func fixturesNamed(tb testing.TB, suffix string) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir("testdata", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(filepath.ToSlash(p), suffix) {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[strings.TrimPrefix(filepath.ToSlash(p), "testdata/")] = b
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(out) == 0 {
		tb.Fatalf("no fixture ends with %s", suffix)
	}
	return out
}

// brokenInputs are the inputs every parser must refuse or survive.
var brokenInputs = []string{
	"",
	"\n",
	"garbage",
	"\x00\x01\x02\xff",
	"::::",
	"(((",
	")))",
	"1 2",
	"-",
	strings.Repeat("9", 40),
}

func TestFSPath(t *testing.T) {
	tests := []struct {
		root, name, want string
	}{
		{"/", "/proc/stat", "/proc/stat"},
		{"", "/proc/stat", "/proc/stat"},
		{"/", "proc/stat", "/proc/stat"},
		{"testdata/x", "/proc/stat", "testdata/x/proc/stat"},
		{"testdata/x", "proc/stat", "testdata/x/proc/stat"},
	}
	for _, tt := range tests {
		if got := FS(tt.root).path(tt.name); got != tt.want {
			t.Errorf("FS(%q).path(%q) = %q, want %q", tt.root, tt.name, got, tt.want)
		}
	}
}

func TestFSReadFile(t *testing.T) {
	fs := FS("testdata/router-arm-zte-zx279128")
	got, err := fs.ReadFile("/proc/loadavg")
	if err != nil {
		t.Fatal(err)
	}
	if want := "2.79 1.23 0.85 3/119 1351\n"; string(got) != want {
		t.Errorf("ReadFile = %q, want %q", got, want)
	}

	// AppendFile appends, and reuses the caller's storage.
	buf := make([]byte, 0, 64*1024)
	buf = append(buf, "x"...)
	buf, err = fs.AppendFile(buf, "/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	if want := "x1690.18 2983.59\n"; string(buf) != want {
		t.Errorf("AppendFile = %q, want %q", buf, want)
	}

	// A file larger than the first read (the 132 KB /proc/stat) grows the buffer.
	big, err := FS("testdata/misc-prometheus-procfs").ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	if want := fixture(t, "misc-prometheus-procfs/proc/stat"); string(big) != string(want) {
		t.Errorf("ReadFile of a large file: %d bytes, want %d", len(big), len(want))
	}

	_, err = fs.ReadFile("/proc/nope")
	if !IsNotExist(err) {
		t.Errorf("ReadFile of a missing file: err = %v, want not-exist", err)
	}
	if errors.Is(err, ErrParse) {
		t.Errorf("a read error must not be a parse error: %v", err)
	}
}

func TestFSAppendFileAllocs(t *testing.T) {
	fs := FS("/")
	if _, err := os.Stat("/proc/loadavg"); err != nil {
		t.Skip("no /proc here")
	}
	buf := make([]byte, 0, 8192)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		buf, err = fs.AppendFile(buf[:0], "/proc/loadavg")
		if err != nil {
			t.Fatal(err)
		}
	})
	// syscall.Open copies the path to a NUL-terminated byte slice.
	if allocs > 1 {
		t.Errorf("FS(\"/\").AppendFile: %v allocs per run, want <= 1", allocs)
	}
}

func TestFSReadDir(t *testing.T) {
	names, err := FS("testdata/misc-prometheus-procfs").ReadDir("/sys/class/thermal")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(names, ","), "thermal_zone0,thermal_zone1"; got != want {
		t.Errorf("ReadDir = %s, want %s", got, want)
	}
	if _, err := FS("testdata").ReadDir("/nope"); !IsNotExist(err) {
		t.Errorf("ReadDir of a missing dir: err = %v, want not-exist", err)
	}
}

func TestFSStatfs(t *testing.T) {
	st, err := FS(t.TempDir()).Statfs("/")
	if err != nil {
		t.Fatal(err)
	}
	if st.BlockSize == 0 || st.Blocks == 0 || st.BlocksAvail > st.Blocks || st.BlocksFree > st.Blocks {
		t.Errorf("Statfs = %+v: implausible", st)
	}
	if st.TotalBytes() < st.UsedBytes() || st.TotalBytes() < st.AvailBytes() {
		t.Errorf("Statfs = %+v: used or avail above total", st)
	}
	if _, err := FS(t.TempDir()).Statfs("/nope"); !IsNotExist(err) {
		t.Errorf("Statfs of a missing path: err = %v, want not-exist", err)
	}
}

// plainSource is a Source that is no FileAppender.
type plainSource struct{ FS }

func (s plainSource) AppendFile() {} // hides FS.AppendFile with another signature

func TestAppendFileFallback(t *testing.T) {
	src := plainSource{FS("testdata/router-arm-zte-zx279128")}
	if _, ok := Source(src).(FileAppender); ok {
		t.Fatal("plainSource must not be a FileAppender")
	}
	got, err := AppendFile(src, []byte("a"), "/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	if want := "a1690.18 2983.59\n"; string(got) != want {
		t.Errorf("AppendFile = %q, want %q", got, want)
	}
	got, err = AppendFile(src, []byte("a"), "/proc/nope")
	if err == nil || string(got) != "a" {
		t.Errorf("AppendFile of a missing file = %q, %v; want \"a\" and an error", got, err)
	}
}

// TestFixturesMatchSources checks that the copies under testdata are still
// byte-for-byte the files SOURCES.md describes.
func TestFixturesMatchSources(t *testing.T) {
	f, err := os.Open("/work/shared/fixtures/SOURCES.md")
	if err != nil {
		t.Skip("shared fixtures table not available:", err)
	}
	defer f.Close()
	checked := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "|")
		if len(cols) < 8 || !strings.HasPrefix(strings.TrimSpace(cols[1]), "`") {
			continue
		}
		path := strings.Trim(strings.TrimSpace(cols[1]), "`")
		want := strings.TrimSpace(cols[6])
		b, err := os.ReadFile(filepath.Join("testdata", path))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:])[:len(want)]; got != want {
			t.Errorf("%s: sha256 %s, SOURCES.md says %s", path, got, want)
		}
		checked++
	}
	if checked < 60 {
		t.Errorf("checked only %d rows", checked)
	}
}

// A wrong root must not make a sampler read forever.
func TestAppendFileBounded(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	_, err := FS("/").AppendFile(nil, "/dev/zero")
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}
