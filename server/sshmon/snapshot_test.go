package sshmon

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"edgestat/proc"
)

// A shell runs the snapshot script: dash (Debian's /bin/sh) with GNU head
// and df, or busybox sh with busybox's head and df, as on a router.
type shell struct {
	name string
	argv []string // the shell, to which "-c script" is added
	bin  string   // a directory put first on PATH, or ""
}

// shells returns the shells of this machine that can run the script; the
// busybox one is skipped (and said) when busybox is not installed.
func shells(t testing.TB) []shell {
	t.Helper()
	var sh []shell
	if _, err := os.Stat("/bin/sh"); err == nil {
		sh = append(sh, shell{name: "sh", argv: []string{"/bin/sh"}})
	}
	if bb, err := exec.LookPath("busybox"); err == nil {
		bin := t.TempDir()
		for _, applet := range []string{"sh", "head", "df"} {
			if err := os.Symlink(bb, filepath.Join(bin, applet)); err != nil {
				t.Fatal(err)
			}
		}
		sh = append(sh, shell{name: "busybox", argv: []string{bb, "sh"}, bin: bin})
	} else {
		t.Log("busybox is not installed: the script is not tried with busybox sh, head and df")
	}
	if len(sh) == 0 {
		t.Skip("no /bin/sh")
	}
	return sh
}

// runScript runs Script(withInfo) under sh with EDGESTAT_ROOT=root. When
// df is not empty, a df on PATH prints it instead of the real df.
func runScript(t testing.TB, sh shell, root string, withInfo bool, df string) []byte {
	t.Helper()
	path := "/usr/bin:/bin"
	if sh.bin != "" {
		path = sh.bin + ":" + path
	}
	if df != "" {
		bin := t.TempDir()
		script := "#!/bin/sh\ncat <<'EOF'\n" + df + "EOF\n"
		if err := os.WriteFile(filepath.Join(bin, "df"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		path = bin + ":" + path
	}
	cmd := exec.Command(sh.argv[0], append(sh.argv[1:], "-c", Script(withInfo))...)
	cmd.Env = []string{"EDGESTAT_ROOT=" + root, "PATH=" + path}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v: %s", sh.name, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("%s printed on stderr: %s", sh.name, stderr.String())
	}
	return out
}

// snapshotOf runs the script over root with the given shell (the first of
// shells by default) and parses it.
func snapshotOf(t testing.TB, root string, withInfo bool, df string, sh ...shell) *Snapshot {
	t.Helper()
	if len(sh) == 0 {
		sh = shells(t)[:1]
	}
	out := runScript(t, sh[0], root, withInfo, df)
	s, err := ParseSnapshot(out)
	if err != nil {
		t.Fatalf("ParseSnapshot(script over %s): %v", root, err)
	}
	return s
}

// wantedFile reports whether the script reads the file rel (relative to the
// root).
var wantedFile = regexp.MustCompile(`^(proc/(stat|meminfo|loadavg|uptime|net/dev|net/snmp|diskstats|mounts|cpuinfo|[0-9]+/stat)|sys/class/thermal/thermal_zone[^/]*/(type|temp))$`)

// treeFiles lists the files under root that the script reads.
func treeFiles(t testing.TB, root string, withInfo bool) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if wantedFile.MatchString(rel) && (withInfo || rel != "proc/cpuinfo") {
			files = append(files, "/"+rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

var fixtureTrees = []string{
	"x86-server", "arm-zte-router", "rpi4", "rpi-zero-w-armv6", "rpi3-armv7", "arm32-mt8183",
	"old-arm-arm720t", "stb-mips-bcm7425", "x86-2socket-xeon-x5675", "mips-mt7621-router", "mips-lantiq-router",
}

// TestScriptOverFixtures runs the real script over every fixture tree with
// every shell and checks that the snapshot holds exactly the files of the
// tree that the script reads, each byte for byte.
func TestScriptOverFixtures(t *testing.T) {
	const df = "Filesystem     1024-blocks    Used Available Capacity Mounted on\n" +
		"/dev/sda1           999320  107700    822808      12% /boot\n"
	for _, sh := range shells(t) {
		for _, tree := range fixtureTrees {
			for _, withInfo := range []bool{true, false} {
				root := filepath.Join("testdata", tree)
				out := runScript(t, sh, root, withInfo, df)
				s, err := ParseSnapshot(out)
				if err != nil {
					t.Fatalf("%s %s: %v", sh.name, tree, err)
				}
				want := treeFiles(t, root, withInfo)
				if got := s.Paths(); !slices.Equal(got, want) {
					t.Errorf("%s %s cpuinfo=%v: files\n got %q\nwant %q", sh.name, tree, withInfo, got, want)
				}
				for _, name := range want {
					disk, err := os.ReadFile(filepath.Join(root, name))
					if err != nil {
						t.Fatal(err)
					}
					got, err := s.ReadFile(name)
					if err != nil || !bytes.Equal(got, disk) {
						t.Errorf("%s %s: %s: got %q, %v; want the %d bytes on disk", sh.name, tree, name, quote(got), err, len(disk))
					}
				}
				if st, err := s.Statfs("/boot"); err != nil || st.TotalBytes() != 999320*1024 ||
					st.UsedBytes() != 107700*1024 || st.AvailBytes() != 822808*1024 {
					t.Errorf("%s %s: Statfs(/boot) = %+v, %v", sh.name, tree, st, err)
				}
			}
		}
	}
}

// TestScriptOverRealProcCopy copies this machine's own /proc files into a
// tree (so that they do not change under the test) and checks that the
// script carries them byte for byte: long lines (the intr line of
// /proc/stat), every process's stat, the real mounts.
func TestScriptOverRealProcCopy(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	root := t.TempDir()
	src := proc.FS("/")
	var names []string
	for _, f := range []string{"stat", "meminfo", "loadavg", "uptime", "net/dev", "net/snmp", "diskstats", "mounts", "cpuinfo"} {
		names = append(names, "/proc/"+f)
	}
	pids, _ := src.ReadDir("/proc")
	for _, p := range pids {
		if _, err := strconv.Atoi(p); err == nil {
			names = append(names, "/proc/"+p+"/stat")
		}
	}
	zones, _ := src.ReadDir(proc.ThermalDir)
	for _, z := range zones {
		names = append(names, proc.ThermalDir+"/"+z+"/type", proc.ThermalDir+"/"+z+"/temp")
	}
	for _, name := range names {
		b, err := src.ReadFile(name)
		if err != nil {
			continue // a process that exited, a sensor that is off
		}
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, sh := range shells(t) {
		s, err := ParseSnapshot(runScript(t, sh, root, true, ""))
		if err != nil {
			t.Fatal(err)
		}
		want := treeFiles(t, root, true)
		if got := s.Paths(); !slices.Equal(got, want) {
			t.Errorf("%s: files\n got %q\nwant %q", sh.name, got, want)
		}
		for _, name := range want {
			disk, _ := os.ReadFile(filepath.Join(root, name))
			if got, err := s.ReadFile(name); err != nil || !bytes.Equal(got, disk) {
				t.Errorf("%s: %s differs: got %q, %v", sh.name, name, quote(got), err)
			}
		}
	}
}

// TestScriptOverRealRoot runs the script over this machine's / itself
// (EDGESTAT_ROOT empty) and checks each file of the snapshot against the
// file read again now: equal, or, for counters that moved meanwhile, the
// same lines with the same keys. It also finds this test's own process and
// the root file system of df.
func TestScriptOverRealRoot(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	self := "/proc/" + strconv.Itoa(os.Getpid()) + "/stat"
	for _, sh := range shells(t) {
		s, err := ParseSnapshot(runScript(t, sh, "", true, ""))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"stat", "meminfo", "loadavg", "uptime", "net/dev", "net/snmp", "diskstats", "mounts", "cpuinfo"} {
			name := "/proc/" + f
			if _, err := os.Stat(name); err == nil {
				if _, err := s.ReadFile(name); err != nil {
					t.Errorf("%s: %s missing: %v", sh.name, name, err)
				}
			}
		}
		if _, err := s.ReadFile(self); err != nil {
			t.Errorf("%s: own process %s missing", sh.name, self)
		}
		// Other tests of the machine start processes and may add interfaces
		// or mounts meanwhile: a file whose shape changed is read again in a
		// new snapshot, up to 3 times, before it counts as wrong.
		bad := compareWithDisk(t, sh.name, s)
		for try := 0; len(bad) > 0 && try < 2; try++ {
			again, err := ParseSnapshot(runScript(t, sh, "", true, ""))
			if err != nil {
				t.Fatal(err)
			}
			bad = compareWithDisk(t, sh.name, again)
		}
		for _, b := range bad {
			t.Error(b)
		}

		// df's numbers against statfs(2) on "/": the same size, and space in
		// use within 1% (files are written meanwhile).
		want, err := proc.FS("/").Statfs("/")
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Statfs("/")
		if err != nil {
			t.Fatalf("%s: Statfs(/): %v", sh.name, err)
		}
		if !near(got.TotalBytes(), want.TotalBytes()) || !near(got.UsedBytes(), want.UsedBytes()) || !near(got.AvailBytes(), want.AvailBytes()) {
			t.Errorf("%s: Statfs(/) = total %d used %d avail %d, statfs(2) says %d %d %d", sh.name,
				got.TotalBytes(), got.UsedBytes(), got.AvailBytes(), want.TotalBytes(), want.UsedBytes(), want.AvailBytes())
		}
	}
}

// compareWithDisk compares the files of s with the disk now and describes
// those whose shape differs.
func compareWithDisk(t *testing.T, shell string, s *Snapshot) []string {
	var bad []string
	exact, moved := 0, 0
	for _, name := range s.Paths() {
		got, _ := s.ReadFile(name)
		disk, err := os.ReadFile(name)
		if err != nil {
			continue // a process that exited since
		}
		if bytes.Equal(got, disk) {
			exact++
			continue
		}
		moved++
		if !sameShape(name, got, disk) {
			bad = append(bad, fmt.Sprintf("%s: %s:\n got %q\ndisk %q", shell, name, quote(got), quote(disk)))
		}
	}
	t.Logf("%s: %d files, %d equal to the disk, %d with counters that moved", shell, len(s.Paths()), exact, moved)
	return bad
}

func near(a, b uint64) bool {
	d := max(a, b) - min(a, b)
	return d <= max(a, b)/100+64<<10
}

// sameShape reports whether two reads of a kernel file differ only in
// values: the same lines with as many fields, each with the same first
// field where that is a name (for a process: the same pid and command name).
func sameShape(name string, a, b []byte) bool {
	if isPIDStat(name) {
		return comm(a) == comm(b) && bytes.Equal(bytes.Fields(a)[0], bytes.Fields(b)[0])
	}
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	if len(la) != len(lb) {
		return false
	}
	for i := range la {
		fa, fb := bytes.Fields(la[i]), bytes.Fields(lb[i])
		if len(fa) != len(fb) {
			return false
		}
		if len(fa) > 0 && bytes.ContainsFunc(fa[0], unicode.IsLetter) && !bytes.Equal(fa[0], fb[0]) {
			return false
		}
	}
	return true
}

func TestScriptSyntax(t *testing.T) {
	for _, sh := range shells(t) {
		for _, withInfo := range []bool{true, false} {
			script := Script(withInfo)
			body, ok := strings.CutPrefix(script, "exec sh -c '")
			body, ok2 := strings.CutSuffix(body, "'")
			if !ok || !ok2 || strings.ContainsAny(body, "'\\\n") {
				t.Fatalf("not one quoted line: %s", script)
			}
			for _, s := range []string{script, body} {
				cmd := exec.Command(sh.argv[0], append(sh.argv[1:], "-n", "-c", s)...)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s -n: %v: %s", sh.name, err, out)
				}
			}
		}
	}
	if strings.Contains(Script(false), "cpuinfo") || !strings.Contains(Script(true), "proc/cpuinfo") {
		t.Error("cpuinfo is read when, and only when, asked for")
	}
}

// TestScriptLoginShells: sshd runs the command with the user's login shell,
// which may be bash, zsh (which refuses a glob that matches nothing), fish
// or csh. Each one installed here must give the snapshot sh gives.
func TestScriptLoginShells(t *testing.T) {
	root := filepath.Join("testdata", "rpi4") // no /proc/[pid]: an unmatched glob
	want := snapshotOf(t, root, true, emptyDF)
	tried := 0
	for _, name := range []string{"bash", "zsh", "fish", "tcsh", "csh"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		tried++
		got := snapshotOf(t, root, true, emptyDF, shell{name: name, argv: []string{p}})
		if !slices.Equal(got.Paths(), want.Paths()) {
			t.Errorf("%s: files %q, want %q", name, got.Paths(), want.Paths())
		}
	}
	t.Logf("%d login shells tried", tried)
}

// TestScriptBadRoot: a root that does not exist prints nothing, which
// ParseSnapshot refuses.
func TestScriptBadRoot(t *testing.T) {
	for _, sh := range shells(t) {
		cmd := exec.Command(sh.argv[0], append(sh.argv[1:], "-c", Script(false))...)
		cmd.Env = []string{"EDGESTAT_ROOT=/nonexistent/edgestat", "PATH=/usr/bin:/bin"}
		out, err := cmd.Output()
		if err == nil {
			t.Errorf("%s: exit 0 for a missing root", sh.name)
		}
		if _, err := ParseSnapshot(out); !errors.Is(err, ErrSnapshot) {
			t.Errorf("%s: ParseSnapshot(%q) = %v", sh.name, out, err)
		}
	}
}

// output builds script output by hand: files as name, content pairs.
func output(df string, files ...string) string {
	var b strings.Builder
	b.WriteString("@@edgestat@@ begin 1\n")
	for i := 0; i+1 < len(files); i += 2 {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("==> " + files[i] + " <==\n" + files[i+1])
	}
	b.WriteString("\n@@edgestat@@ df\n" + df + "\n@@edgestat@@ end\n")
	return b.String()
}

func TestParseSnapshot(t *testing.T) {
	const df = "Filesystem 1024-blocks Used Available Capacity Mounted on\n" +
		"/dev/root 100 40 50 45% /\n" +
		"/dev/sdb1 -  -  -  -  /mnt/odd\n" + // unknown sizes: skipped
		"/dev/sdc1 2000 1000 1000 50% /mnt/with space\n" +
		"my fs 10 1 9 10% /mnt/fs\n" + // a name with a space: skipped
		"/dev/sdd1 3000 3500 0 100% /mnt/over\n" // used > total: free 0
	good := output(df,
		"proc/stat", "cpu  1 2 3 4\n",
		"proc/1/stat", "1 (init) S 0",
		"proc/12/stat", "12 (a\n==> proc/99/stat <=\nb) S 1\n", // content that looks like a header, almost
		"proc/net/dev", "",
		"sys/class/thermal/thermal_zone0/temp", "40000\n")
	s, err := ParseSnapshot([]byte("bash: warning: motd\n" + good))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"/proc/stat":                            "cpu  1 2 3 4\n",
		"/proc/1/stat":                          "1 (init) S 0",
		"/proc/12/stat":                         "12 (a\n==> proc/99/stat <=\nb) S 1\n",
		"/proc/net/dev":                         "",
		"/sys/class/thermal/thermal_zone0/temp": "40000\n",
	}
	if got := s.Paths(); len(got) != len(files) {
		t.Errorf("Paths() = %q", got)
	}
	for name, want := range files {
		got, err := s.ReadFile(name)
		if err != nil || string(got) != want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", name, got, err, want)
		}
		if got, err := s.AppendFile([]byte("x"), name); err != nil || string(got) != "x"+want {
			t.Errorf("AppendFile(%s) = %q, %v", name, got, err)
		}
	}
	for _, tc := range []struct {
		dir  string
		want []string
	}{
		{"/proc", []string{"1", "12", "net", "stat"}},
		{"/proc/", []string{"1", "12", "net", "stat"}},
		{"/proc/net", []string{"dev"}},
		{"/sys/class/thermal", []string{"thermal_zone0"}},
		{"/", []string{"proc", "sys"}},
	} {
		if got, err := s.ReadDir(tc.dir); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ReadDir(%s) = %q, %v; want %q", tc.dir, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		mp                string
		total, used, free uint64
	}{
		{"/", 100 << 10, 40 << 10, 50 << 10},
		{"/mnt/with space", 2000 << 10, 1000 << 10, 1000 << 10},
		{"/mnt/over", 3000 << 10, 3000 << 10, 0},
	} {
		st, err := s.Statfs(tc.mp)
		if err != nil || st.TotalBytes() != tc.total || st.UsedBytes() != tc.used || st.AvailBytes() != tc.free {
			t.Errorf("Statfs(%s) = %+v, %v", tc.mp, st, err)
		}
	}
	for _, mp := range []string{"/mnt/odd", "/mnt/fs", "/nope"} {
		if _, err := s.Statfs(mp); !proc.IsNotExist(err) {
			t.Errorf("Statfs(%s): %v, want not exist", mp, err)
		}
	}
	if _, err := s.ReadFile("/proc/meminfo"); !proc.IsNotExist(err) {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
	if _, err := s.ReadDir("/proc/2"); !proc.IsNotExist(err) {
		t.Errorf("ReadDir of a missing dir: %v", err)
	}
	// The zones through the proc helper: a Snapshot is a proc.Source.
	zones, _, err := proc.ReadThermalZones(s, nil, nil)
	if err != nil || len(zones) != 1 || zones[0].Milli != 40000 {
		t.Errorf("ReadThermalZones = %+v, %v", zones, err)
	}

	empty, err := ParseSnapshot([]byte(output("")))
	if err != nil || len(empty.Paths()) != 0 {
		t.Errorf("no file: %v, %q", err, empty.Paths())
	}
	// What the script prints when head finds no file: the echo's newline.
	if _, err := ParseSnapshot([]byte("@@edgestat@@ begin 1\n\n@@edgestat@@ df\n\n@@edgestat@@ end\n")); err != nil {
		t.Errorf("no file at all: %v", err)
	}
}

func TestParseSnapshotBad(t *testing.T) {
	good := output("", "proc/stat", "cpu 1 2 3 4\n")
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "no begin marker"},
		{"not the script", "hello\nworld\n", "no begin marker"},
		{"cut short", good[:len(good)-10], "cut short"},
		{"cut in a file", good[:40], "cut short"},
		{"no df marker", "@@edgestat@@ begin 1\n==> proc/stat <==\ncpu\n@@edgestat@@ end\n", "no df marker"},
		{"no header", output("")[:21] + "cpu 1 2\n" + output("")[21:], "do not start with a header"},
		{"bad name", output("", "etc/shadow", "x"), "do not start with a header"},
		{"dot dot", output("", "proc/../etc/passwd", "x"), "do not start with a header"},
		{"twice", output("", "proc/stat", "a", "proc/stat", "b"), "/proc/stat twice"},
		{"too large", "@@edgestat@@ begin 1\n" + strings.Repeat("x", MaxSnapshot), "over the limit"},
	} {
		_, err := ParseSnapshot([]byte(tc.in))
		if !errors.Is(err, ErrSnapshot) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an ErrSnapshot with %q", tc.name, err, tc.want)
		}
	}
	// More than MaxFiles files.
	var files []string
	for i := range MaxFiles + 1 {
		files = append(files, "proc/"+strconv.Itoa(i)+"/stat", "")
	}
	if _, err := ParseSnapshot([]byte(output("", files...))); !errors.Is(err, ErrSnapshot) || !strings.Contains(err.Error(), "more than") {
		t.Errorf("too many files: %v", err)
	}
}

// TestParseSnapshotCopies: the snapshot does not keep the caller's buffer.
func TestParseSnapshotCopies(t *testing.T) {
	out := []byte(output("", "proc/stat", "cpu 1 2 3 4\n"))
	s, err := ParseSnapshot(out)
	if err != nil {
		t.Fatal(err)
	}
	for i := range out {
		out[i] = 'x'
	}
	if got, _ := s.ReadFile("/proc/stat"); string(got) != "cpu 1 2 3 4\n" {
		t.Errorf("after the caller reused its buffer: %q", got)
	}
	got, _ := s.ReadFile("/proc/stat")
	got[0] = 'X'
	if again, _ := s.ReadFile("/proc/stat"); string(again) != "cpu 1 2 3 4\n" {
		t.Error("ReadFile returns the snapshot's own bytes")
	}
}

func FuzzParseSnapshot(f *testing.F) {
	f.Add([]byte(output("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/root 100 40 50 45% /\n",
		"proc/stat", "cpu 1 2 3 4\n", "proc/1/stat", "1 (init) S", "sys/class/thermal/thermal_zone0/type", "x\n")))
	f.Add([]byte(output("")))
	f.Add([]byte("@@edgestat@@ begin 1\n==> proc/stat <==\n\n==> proc/stat <=="))
	if _, err := os.Stat("/bin/sh"); err == nil {
		sh := shell{name: "sh", argv: []string{"/bin/sh"}}
		// Real outputs, kept small: the fuzzer minimizes every input that finds
		// new code, for up to a minute each, and a big seed stalls it.
		f.Add(runScript(f, sh, filepath.Join("testdata", "rpi4"), true, emptyDF))
		f.Add(runScript(f, sh, filepath.Join("testdata", "mips-mt7621-router"), false, emptyDF))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseSnapshot(in)
		if err != nil {
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("error %v does not wrap ErrSnapshot", err)
			}
			return
		}
		names := s.Paths()
		if len(names) > MaxFiles || !slices.IsSorted(names) {
			t.Fatalf("%d names, sorted %v", len(names), slices.IsSorted(names))
		}
		size := 0
		for _, n := range names {
			b, err := s.ReadFile(n)
			if err != nil {
				t.Fatalf("ReadFile(%s) of a listed file: %v", n, err)
			}
			size += len(b)
			dir := filepath.Dir(n)
			ents, err := s.ReadDir(dir)
			if err != nil || !slices.Contains(ents, filepath.Base(n)) {
				t.Fatalf("ReadDir(%s) = %q, %v: no %s", dir, ents, err, filepath.Base(n))
			}
		}
		if size > len(in) {
			t.Fatalf("%d bytes of files from %d bytes of output", size, len(in))
		}
		s.Statfs("/")
		NewCollector("u@h:22").Collect(s, time0)
	})
}

func BenchmarkParseSnapshot(b *testing.B) {
	out := busyServerOutput(b)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseSnapshot(out); err != nil {
			b.Fatal(err)
		}
	}
}
