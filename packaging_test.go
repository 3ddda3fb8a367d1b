package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The packaging files (packaging/) and what they must agree with: the
// program's flags and variables, README.md's targets, systemd's parser.
const (
	unitFile    = "packaging/systemd/edgestat.service"
	defaultFile = "packaging/systemd/edgestat.default"
	initFile    = "packaging/openwrt/edgestat.init"
	uciFile     = "packaging/openwrt/edgestat.config"
	releaseFile = "packaging/release.sh"
)

// The scripts parse in the shells that run them: the init script in a POSIX
// sh and in busybox ash (OpenWrt's shell) when there is one; release.sh in
// bash, which it asks for (sh -n would reject its [[ ]] and <<<).
func TestPackagingScriptsParse(t *testing.T) {
	shells := [][]string{{"sh", "-n", initFile}, {"bash", "-n", releaseFile}}
	if _, err := exec.LookPath("busybox"); err == nil {
		shells = append(shells, []string{"busybox", "ash", "-n", initFile})
	} else {
		t.Log("busybox not installed: the init script is parsed by sh only")
	}
	for _, c := range shells {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
}

// unitSettings reads a systemd unit into section.Key -> values, in order.
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	section := ""
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: line %q is no Key=Value", path, line)
			}
			got[section+"."+k] = append(got[section+"."+k], v)
		}
	}
	return got
}

// What the unit promises in README.md and what a monitor of the host needs.
func TestPackagingSystemdUnitSettings(t *testing.T) {
	u := unitSettings(t, unitFile)
	want := map[string]string{
		"Service.ExecStart":       "/usr/local/bin/edgestat --data /var/lib/edgestat",
		"Service.StateDirectory":  "edgestat", // the --data above
		"Service.EnvironmentFile": "-/etc/default/edgestat",
		"Service.Restart":         "on-failure",
		"Service.NoNewPrivileges": "yes",
		"Service.ProtectSystem":   "strict",
		"Install.WantedBy":        "multi-user.target",
	}
	for k, v := range want {
		if got := u[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !slices.Contains(strings.Fields(strings.Join(u["Service.AmbientCapabilities"], " ")), "CAP_NET_RAW") {
		t.Errorf("AmbientCapabilities = %q: live capture needs CAP_NET_RAW", u["Service.AmbientCapabilities"])
	}
	// The processes plugin counts every process of the host: nothing may
	// hide other processes' /proc entries.
	for _, v := range u["Service.ProcSubset"] {
		if v != "all" {
			t.Errorf("ProcSubset=%s hides the host's processes", v)
		}
	}
	for _, v := range u["Service.ProtectProc"] {
		if v != "default" {
			t.Errorf("ProtectProc=%s hides other users' processes", v)
		}
	}
	if n, err := strconv.Atoi(strings.Join(u["Service.LimitNOFILE"], "")); err != nil || n < 4096 {
		t.Errorf("LimitNOFILE = %q, want a number of at least 4096", u["Service.LimitNOFILE"])
	}
}

// systemd's own parser on the unit: an unknown key or a bad value is only
// a warning to systemd (exit 0), so any line about our unit fails the test.
func TestPackagingSystemdVerify(t *testing.T) {
	analyze := needTool(t, "systemd-analyze", "systemd")
	// verify checks that ExecStart's binary exists and is executable: the
	// test binary stands in for /usr/local/bin/edgestat.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "edgestat.service")
	text := strings.Replace(string(b), "ExecStart=/usr/local/bin/edgestat ", "ExecStart="+exe+" ", 1)
	if text == string(b) {
		t.Fatal("no ExecStart=/usr/local/bin/edgestat line to point at a test binary")
	}
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput()
	var ours []string
	for line := range strings.Lines(string(out)) {
		// Other units of this machine that verify loads (network-online
		// and the like) may have their own complaints: not ours.
		if strings.Contains(line, "edgestat.service") {
			ours = append(ours, line)
		} else if strings.TrimSpace(line) != "" {
			t.Logf("systemd-analyze, not about our unit: %s", strings.TrimSpace(line))
		}
	}
	if err != nil || len(ours) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The exposure score guards the hardening against a careless edit
	// (2.3 when written; 0 is a fully locked service, 10 an unprotected
	// one). --offline needs systemd 250 or later.
	out, err = exec.Command(analyze, "security", "--offline=yes", "--no-pager", unit).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for edgestat\.service: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Logf("systemd-analyze security --offline not available here (%v): exposure not checked\n%.300s", err, out)
		return
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f", score)
	if score > 3.0 {
		t.Errorf("exposure %.1f, want at most 3.0: the unit's hardening was weakened\n%s", score, out)
	}
}

// knownVariables lists the EDGESTAT_* variables the program reads, from its
// --help.
func knownVariables(t *testing.T) map[string]bool {
	t.Helper()
	var help bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, func(string) string { return "" }, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$(EDGESTAT_[A-Z0-9_]+)`).FindAllStringSubmatch(help.String(), -1) {
		vars[m[1]] = true
	}
	if !vars["EDGESTAT_PORT"] || !vars["EDGESTAT_AUTH_TOKEN"] {
		t.Fatalf("no EDGESTAT_PORT or EDGESTAT_AUTH_TOKEN in --help:\n%s", help.String())
	}
	return vars
}

// The unit's flags and the example environment file are the program's: a
// renamed flag or variable fails here. Every example of the environment file
// is taken as if uncommented.
func TestPackagingSystemdFlags(t *testing.T) {
	u := unitSettings(t, unitFile)
	args := strings.Fields(u["Service.ExecStart"][0])[1:]
	b, err := os.ReadFile(defaultFile)
	if err != nil {
		t.Fatal(err)
	}
	known := knownVariables(t)
	env := map[string]string{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, "EDGESTAT_") || strings.ContainsAny(k, " \t") {
			continue
		}
		if !known[k] {
			t.Errorf("%s: %s is not a variable of the program", defaultFile, k)
		}
		env[k] = v
	}
	if len(env) < 3 || env["EDGESTAT_AUTH_TOKEN"] == "" || env["EDGESTAT_CAPTURE"] == "" {
		t.Errorf("%s: examples %v, want at least the token and the capture interface", defaultFile, env)
	}
	if _, err := parseFlags(args, func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Errorf("ExecStart %q with %s's examples: %v", args, defaultFile, err)
	}
}

// uciOptions reads the UCI config's options and lists into name -> values;
// with examples, commented "#option" and "#list" lines count too.
func uciOptions(t *testing.T, examples bool) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(uciFile)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	re := regexp.MustCompile(`^(#?)(option|list)\s+(\w+)\s+'([^']*)'$`)
	sections := 0
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "config edgestat 'main'" {
			sections++
		}
		m := re.FindStringSubmatch(line)
		if m == nil || (m[1] == "#" && !examples) {
			continue
		}
		got[m[3]] = append(got[m[3]], m[4])
	}
	if sections != 1 {
		t.Fatalf("%s: %d sections \"config edgestat 'main'\", want 1", uciFile, sections)
	}
	return got
}

// procdParam is one procd_set_param or procd_append_param call.
type procdParam struct {
	name string
	args []string
}

// runInit runs the init script's start_service in shell (sh, or busybox
// ash) with OpenWrt's functions stubbed: config_get answers from opts, and
// the procd calls and mkdir/chmod are recorded instead of done.
func runInit(t *testing.T, shell []string, opts map[string][]string) []procdParam {
	t.Helper()
	const stubs = `
config_load() { [ "$1" = edgestat ] || { echo "config_load $1" >&2; exit 3; }; }
config_get() {
	[ "$2" = main ] || { echo "config_get from section $2" >&2; exit 3; }
	if eval "[ -n \"\${UCI_$3+set}\" ]"; then eval "_v=\$UCI_$3"; else _v=$4; fi
	eval "$1=\$_v"
}
config_get_bool() {
	config_get "$@"
	eval "_v=\$$1"
	case "$_v" in 1|on|true|yes|enabled) eval "$1=1" ;; *) eval "$1=0" ;; esac
}
_rec() { printf '%s' "$1"; shift; for _a in "$@"; do printf '\t%s' "$_a"; done; printf '\n'; }
procd_open_instance() { _rec open_instance "$@"; }
procd_close_instance() { _rec close_instance "$@"; }
procd_set_param() { _rec "$@"; }
procd_append_param() { _rec "$@"; }
mkdir() { _rec mkdir "$@"; }
chmod() { _rec chmod "$@"; }
. "$INIT"
start_service
`
	cmd := exec.Command(shell[0], append(shell[1:], "-c", stubs)...)
	init, err := filepath.Abs(initFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "INIT="+init)
	for k, v := range opts {
		// config_get gives a list's items separated by spaces.
		cmd.Env = append(cmd.Env, "UCI_"+k+"="+strings.Join(v, " "))
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: start_service: %v\n%s", shell, err, stderr.String())
	}
	var params []procdParam
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		params = append(params, procdParam{f[0], f[1:]})
	}
	return params
}

// The procd script, run on the shipped config and on its commented
// examples: the command it builds parses as the program's flags, the token
// goes in the environment (not on the command line), the capture interfaces
// become netdevs, and enabled 0 starts nothing.
func TestPackagingOpenWrtInit(t *testing.T) {
	shells := [][]string{{"sh"}}
	if _, err := exec.LookPath("busybox"); err == nil {
		shells = append(shells, []string{"busybox", "ash"})
	}
	known := knownVariables(t)
	for _, sh := range shells {
		for _, examples := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/examples=%v", strings.Join(sh, "_"), examples), func(t *testing.T) {
				opts := uciOptions(t, examples)
				params := runInit(t, sh, opts)
				var command, env, netdevs []string
				got := map[string]bool{}
				for _, p := range params {
					got[p.name] = true
					switch p.name {
					case "command":
						command = append(command, p.args...)
					case "env":
						env = append(env, p.args...)
					case "netdev":
						netdevs = append(netdevs, p.args...)
					}
				}
				if len(command) < 1 || command[0] != "/usr/bin/edgestat" {
					t.Fatalf("command %q, want /usr/bin/edgestat first\n%v", command, params)
				}
				envMap := map[string]string{}
				for _, kv := range env {
					k, v, _ := strings.Cut(kv, "=")
					if !known[k] {
						t.Errorf("env %s is not a variable of the program", k)
					}
					envMap[k] = v
				}
				cfg, err := parseFlags(command[1:], func(k string) string { return envMap[k] }, io.Discard)
				if err != nil {
					t.Fatalf("command %q: %v", command, err)
				}
				if cfg.data != opts["data"][0] || strconv.Itoa(cfg.port) != opts["port"][0] || !slices.Equal(cfg.probe.captures, opts["capture"]) || !slices.Equal(netdevs, opts["capture"]) {
					t.Errorf("command %q, netdevs %q: want the config's data %q, port %q, captures %q", command, netdevs, opts["data"], opts["port"], opts["capture"])
				}
				if tok := opts["auth_token"]; len(tok) > 0 {
					if cfg.token != tok[0] || slices.Contains(command, tok[0]) {
						t.Errorf("token %q: want it from the environment only, command %q env %q", cfg.token, command, env)
					}
				}
				for _, want := range []string{"open_instance", "respawn", "stdout", "stderr", "limits", "file", "close_instance", "mkdir", "chmod"} {
					if !got[want] {
						t.Errorf("no %s in %v", want, params)
					}
				}
			})
		}
		opts := uciOptions(t, false)
		opts["enabled"] = []string{"0"}
		if params := runInit(t, sh, opts); len(params) != 0 {
			t.Errorf("%s: enabled 0 still did %v", sh, params)
		}
	}
}

// readmeTargets lists README.md's "Targets" table as release.sh names
// them: GOOS/GOARCH, with /N for GOARM.
func readmeTargets(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n## Targets\n")
	if !ok {
		t.Fatal("README.md has no Targets section")
	}
	section, _, _ := strings.Cut(after, "\n## ")
	var targets []string
	row := regexp.MustCompile(`(?m)^\| (linux/\w+)(?: \(GOARM=(\d))?[^|]*\|`)
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		target := m[1]
		if m[2] != "" {
			target += "/" + m[2]
		}
		targets = append(targets, target)
	}
	return targets
}

// release.sh for one target, twice, into two directories: SHA256SUMS
// verifies, both runs give the same bytes, and the tarball holds the binary
// and the packaging files with fixed owners and times. Its target list is
// README's.
func TestPackagingRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a release binary")
	}
	sha := needTool(t, "sha256sum", "coreutils")
	needTool(t, "bash", "bash")

	script, err := os.ReadFile(releaseFile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ALL_TARGETS="([^"]*)"`).FindSubmatch(script)
	if m == nil {
		t.Fatal("no ALL_TARGETS in release.sh")
	}
	if all, readme := strings.Fields(string(m[1])), readmeTargets(t); !slices.Equal(all, readme) {
		t.Errorf("release.sh builds %q, README's Targets table lists %q", all, readme)
	}

	const epoch = 1700000000
	release := func(dir, version string) ([]byte, error) {
		cmd := exec.Command("bash", releaseFile, version)
		cmd.Env = append(os.Environ(), "EDGESTAT_RELEASE_TARGETS=linux/amd64", "EDGESTAT_RELEASE_DIR="+dir,
			"SOURCE_DATE_EPOCH="+strconv.Itoa(epoch))
		return cmd.CombinedOutput()
	}
	for _, bad := range []string{"", "../x", "1 2", "-v", "a..b"} {
		if out, err := release(t.TempDir(), bad); err == nil {
			t.Errorf("VERSION %q accepted:\n%s", bad, out)
		}
	}

	var sums [2][]byte
	dirs := [2]string{t.TempDir(), t.TempDir()}
	for i, dir := range dirs {
		if out, err := release(dir, "test"); err != nil {
			t.Fatalf("release.sh: %v\n%s", err, out)
		}
		check := exec.Command(sha, "-c", "SHA256SUMS")
		check.Dir = dir
		if out, err := check.CombinedOutput(); err != nil {
			t.Fatalf("sha256sum -c: %v\n%s", err, out)
		}
		if sums[i], err = os.ReadFile(filepath.Join(dir, "SHA256SUMS")); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(sums[0], sums[1]) {
		t.Errorf("two runs differ, the build is not reproducible:\n%s\n%s", sums[0], sums[1])
	}
	names := regexp.MustCompile(`(?m)  (\S+)$`).FindAllStringSubmatch(string(sums[0]), -1)
	if len(names) != 2 || names[0][1] != "edgestat-test-linux-amd64" || names[1][1] != "edgestat-test-linux-amd64.tar.gz" {
		t.Errorf("SHA256SUMS:\n%s\nwant the binary and its tarball", sums[0])
	}

	bin, err := os.ReadFile(filepath.Join(dirs[0], "edgestat-test-linux-amd64"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dirs[0], "edgestat-test-linux-amd64.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bufio.NewReader(zr))
	var entries []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, fmt.Sprintf("%s %o", h.Name, h.Mode))
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(time.Unix(epoch, 0)) {
			t.Errorf("%s: uid %d gid %d time %v, want 0, 0, SOURCE_DATE_EPOCH", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		if h.Name == "edgestat-test-linux-amd64/edgestat" {
			in, _ := io.ReadAll(tr)
			if !bytes.Equal(in, bin) {
				t.Error("the tarball's binary is not the one beside it")
			}
		}
	}
	p := "edgestat-test-linux-amd64/"
	want := []string{p + " 755", p + "README.md 644", p + "edgestat 755", p + "edgestat.config 644",
		p + "edgestat.default 644", p + "edgestat.init 755", p + "edgestat.service 644"}
	if _, err := os.Stat("LICENSE"); err == nil {
		want = append(want, p+"LICENSE 644")
		slices.Sort(want)
	}
	if !slices.Equal(entries, want) {
		t.Errorf("tarball entries:\n%s\nwant:\n%s", strings.Join(entries, "\n"), strings.Join(want, "\n"))
	}

	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		out, err := exec.Command(filepath.Join(dirs[0], "edgestat-test-linux-amd64"), "--version").Output()
		if err != nil || string(out) != "edgestat test\n" {
			t.Errorf("--version: %q, %v; want the VERSION stamped in", out, err)
		}
	}
}
