package sshmon

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"math"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// openSSHD is a real OpenSSH sshd on 127.0.0.1 run by TestRealOpenSSH, with
// a throwaway user that may log in with a password or a key.
type openSSHD struct {
	port     int
	user     string
	password string // never logged
	key      []byte // the user's private key, OpenSSH PEM
	logPath  string // sshd's own log (-e)
}

// opensshSkip skips the test outside CI and fails it in CI (CI=true), where
// .ci/run runs as root and installs openssh-server.
func opensshSkip(t *testing.T, why string) {
	t.Helper()
	msg := "SKIPPED: TestRealOpenSSH (a real OpenSSH server monitored through /monitor) " + why
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " [CI=true: CI runs as root with openssh-server installed; this must not be skipped]")
	}
	t.Skip(msg)
}

// opensshTool finds a command of the passwd package (useradd, chpasswd,
// userdel), also in /usr/sbin when PATH lacks it.
func opensshTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	opensshSkip(t, "needs "+name+" (Debian package passwd)")
	return ""
}

// opensshRun runs a command; its output (never a secret: stdin is not
// echoed) goes into the error.
func opensshRun(stdin string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func opensshRandHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// opensshLeftovers lists the pids of the processes of uid and of sshd's
// processes for user ("sshd: USER [priv]", "sshd-session: USER@notty"):
// the user name is random, so these are this test's alone.
func opensshLeftovers(uid, user string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if _, title, ok := strings.Cut(string(cmdline), ": "); ok && strings.HasPrefix(string(cmdline), "sshd") { // sshd, sshd-session, sshd-auth (OpenSSH 9.8+)
			if rest, ok := strings.CutPrefix(title, user); ok && (rest == "" || strings.ContainsAny(rest[:1], " @\x00")) {
				pids = append(pids, pid)
				continue
			}
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Uid:" && f[1] == uid {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// opensshHasChildren reports whether a process has children.
func opensshHasChildren(pid int) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/status")
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "PPid:" && f[1] == strconv.Itoa(pid) {
				return true
			}
		}
	}
	return false
}

// startOpenSSHD creates the throwaway user and starts sshd; t.Cleanup stops
// sshd, deletes the user and removes every file, also when the test fails.
func startOpenSSHD(t *testing.T) *openSSHD {
	t.Helper()
	if runtime.GOOS != "linux" {
		opensshSkip(t, "runs on Linux only")
	}
	if os.Geteuid() != 0 {
		opensshSkip(t, "needs root, to create a throwaway user and run sshd")
	}
	const sshd = "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		opensshSkip(t, "needs "+sshd+" (Debian package openssh-server): apt-get install openssh-server")
	}
	useradd, chpasswd, userdel := opensshTool(t, "useradd"), opensshTool(t, "chpasswd"), opensshTool(t, "userdel")

	d := &openSSHD{user: "esmon" + opensshRandHex(t, 4), password: opensshRandHex(t, 16)}
	dir := t.TempDir()
	// sshd reads authorized_keys as the user: the user must be able to
	// traverse the test's directories (the files in them keep their modes).
	for _, p := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}

	// The privilege separation directory, made by the package's service
	// normally; removed again only if this test made it.
	if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove("/run/sshd") })
	}

	// The user: no home, /bin/sh, a random password.
	if err := opensshRun("", useradd, "-M", "-d", "/nonexistent", "-s", "/bin/sh", d.user); err != nil {
		t.Fatal(err)
	}
	var uid string
	t.Cleanup(func() {
		// sshd's listener is gone by now (its cleanup runs first); the
		// processes of its connections end with them. Whatever is left is
		// killed by pid, so that userdel can delete the user.
		if uid != "" {
			deadline := time.Now().Add(3 * time.Second)
			for len(opensshLeftovers(uid, d.user)) > 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			for _, pid := range opensshLeftovers(uid, d.user) {
				t.Logf("killing process %d left by sshd for %s", pid, d.user)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		var err error
		for range 20 {
			if err = opensshRun("", userdel, d.user); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("the throwaway user %s was not deleted: %v", d.user, err)
	})
	u, err := user.Lookup(d.user)
	if err != nil {
		t.Fatal(err)
	}
	uid = u.Uid
	if err := opensshRun(d.user+":"+d.password+"\n", chpasswd); err != nil {
		t.Fatal(err)
	}

	// The user's key pair and the host key, made here.
	userPub, userPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(userPriv, "edgestat test user")
	if err != nil {
		t.Fatal(err)
	}
	d.key = pem.EncodeToMemory(block)
	sshPub, err := ssh.NewPublicKey(userPub)
	if err != nil {
		t.Fatal(err)
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authKeys, ssh.MarshalAuthorizedKey(sshPub), 0o644); err != nil {
		t.Fatal(err)
	}
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if block, err = ssh.MarshalPrivateKey(hostPriv, "edgestat test host"); err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	if err := os.WriteFile(hostKey, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}

	d.logPath = filepath.Join(dir, "sshd.log")
	logFile, err := os.Create(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(d.logPath)
			t.Logf("sshd's log:\n%s", b)
		}
	})

	// A free port may be taken between the probe and sshd's bind: try again.
	for attempt := 1; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		d.port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		config := filepath.Join(dir, "sshd_config")
		// UsePAM no: sshd checks the password against /etc/shadow itself,
		// with no PAM stack (pam_faildelay, pam_systemd, pam_loginuid) to
		// slow or refuse the login in a container.
		conf := strings.Join([]string{
			"Port " + strconv.Itoa(d.port),
			"ListenAddress 127.0.0.1",
			"HostKey " + hostKey,
			"PidFile " + filepath.Join(dir, "sshd.pid"),
			"AuthorizedKeysFile " + authKeys,
			"StrictModes no",
			"PubkeyAuthentication yes",
			"PasswordAuthentication yes",
			"KbdInteractiveAuthentication no",
			"PermitEmptyPasswords no",
			"UsePAM no",
			"PermitRootLogin no",
			"AllowUsers " + d.user,
			"UseDNS no",
			"PrintMotd no",
			"PrintLastLog no",
			"PermitTTY no",
			"X11Forwarding no",
			"AllowTcpForwarding no",
			"AllowAgentForwarding no",
			"LoginGraceTime 20",
			"LogLevel INFO",
		}, "\n") + "\n"
		if err := os.WriteFile(config, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(sshd, "-t", "-f", config).CombinedOutput(); err != nil {
			t.Fatalf("sshd -t -f %s: %v\n%s\nthe configuration:\n%s", config, err, out, conf)
		}

		cmd := exec.Command(sshd, "-D", "-e", "-f", config)
		cmd.Stdout, cmd.Stderr = logFile, logFile // files: sshd's children write there directly
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		var waitErr error
		go func() { waitErr = cmd.Wait(); close(exited) }()
		stop := func() {
			select {
			case <-exited:
				return
			default:
			}
			// Let the connections that closed end first, so that sshd
			// reaps their processes itself.
			for end := time.Now().Add(2 * time.Second); opensshHasChildren(cmd.Process.Pid) && time.Now().Before(end); {
				time.Sleep(20 * time.Millisecond)
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(3 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		t.Cleanup(stop)

		// Ready when the port answers with an SSH banner.
		var banner string
		deadline := time.Now().Add(5 * time.Second)
		for banner == "" && time.Now().Before(deadline) {
			select {
			case <-exited:
				deadline = time.Time{}
				continue
			default:
			}
			c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port)), time.Second)
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if !strings.HasPrefix(line, "SSH-2.0-") {
				t.Fatalf("port %d answered %q, not an SSH banner", d.port, line)
			}
			banner = strings.TrimSpace(line)
		}
		if banner != "" {
			t.Logf("%s on 127.0.0.1:%d, user %s", banner, d.port, d.user)
			return d
		}
		stop()
		log, _ := os.ReadFile(d.logPath)
		if attempt < 3 && bytes.Contains(log, []byte("Address already in use")) {
			continue
		}
		t.Fatalf("sshd did not listen on 127.0.0.1:%d (exit: %v):\n%s", d.port, waitErr, log)
	}
}

// waitLog waits for sshd's log to hold s.
func (d *openSSHD) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, _ := os.ReadFile(d.logPath)
		if bytes.Contains(b, []byte(s)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd's log does not say %q", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// request is a /monitor request for the target with the given password
// and key (left out when empty).
func (d *openSSHD) request(id, method, passwd string, key []byte) string {
	p := map[string]any{"host": "127.0.0.1", "port": d.port, "user": d.user}
	if passwd != "" {
		p["passwd"] = passwd
	}
	if len(key) > 0 {
		p["key"] = string(key)
	}
	b, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": []any{p}})
	return string(b)
}

// The machine's own files, read directly with no help from package proc.

func opensshRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// opensshLine returns the numbers of the line of text whose first field is
// key ("MemTotal:"), from the second field on.
func opensshLine(t *testing.T, text, key string) []float64 {
	t.Helper()
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != key {
			continue
		}
		var out []float64
		for _, s := range f[1:] {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				break
			}
			out = append(out, v)
		}
		return out
	}
	t.Fatalf("no %q line in:\n%s", key, text)
	return nil
}

// opensshSNMP returns the counter proto/name ("Tcp:", "CurrEstab") of
// /proc/net/snmp.
func opensshSNMP(t *testing.T, text, proto, name string) int64 {
	t.Helper()
	var head []string
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != proto {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		if i := slices.Index(head, name); i > 0 && i < len(f) {
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		break
	}
	t.Fatalf("no %s %s in /proc/net/snmp", proto, name)
	return 0
}

// opensshNetDev returns /proc/net/dev's interfaces: rx and tx bytes by name.
func opensshNetDev(t *testing.T) map[string][2]uint64 {
	t.Helper()
	out := map[string][2]uint64{}
	for line := range strings.Lines(opensshRead(t, "/proc/net/dev")) {
		name, rest, ok := strings.Cut(line, ":")
		f := strings.Fields(rest)
		if !ok || len(f) < 9 {
			continue
		}
		rx, err1 := strconv.ParseUint(f[0], 10, 64)
		tx, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("/proc/net/dev: %q", line)
		}
		out[strings.TrimSpace(name)] = [2]uint64{rx, tx}
	}
	return out
}

// opensshLocal is what the test reads of this machine, before and after
// the monitor's snapshots.
type opensshLocal struct {
	uptime      float64
	tcpActive   int64
	tcpInSegs   int64
	udpOut      int64
	netDev      map[string][2]uint64
	currEstab   int64
	load1       float64
	memTotalKiB uint64
}

func opensshReadLocal(t *testing.T) opensshLocal {
	t.Helper()
	snmp := opensshRead(t, "/proc/net/snmp")
	return opensshLocal{
		uptime:      opensshFirst(t, "/proc/uptime"),
		tcpActive:   opensshSNMP(t, snmp, "Tcp:", "ActiveOpens"),
		tcpInSegs:   opensshSNMP(t, snmp, "Tcp:", "InSegs"),
		udpOut:      opensshSNMP(t, snmp, "Udp:", "OutDatagrams"),
		currEstab:   opensshSNMP(t, snmp, "Tcp:", "CurrEstab"),
		netDev:      opensshNetDev(t),
		load1:       opensshFirst(t, "/proc/loadavg"),
		memTotalKiB: uint64(opensshLine(t, opensshRead(t, "/proc/meminfo"), "MemTotal:")[0]),
	}
}

// opensshFirst returns the first number of a one-line file: the uptime of
// /proc/uptime, the load1 of /proc/loadavg.
func opensshFirst(t *testing.T, name string) float64 {
	t.Helper()
	f := strings.Fields(opensshRead(t, name))
	if len(f) == 0 {
		t.Fatalf("%s is empty", name)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// opensshErr is the error of a reply, for a message, the secrets blanked
// out should the package ever echo them.
func opensshErr(m rpcMsg, secrets ...string) string {
	if m.Error == nil {
		return "null"
	}
	e := *m.Error
	for _, s := range secrets {
		e = strings.ReplaceAll(e, s, "<secret>")
	}
	return strconv.Quote(e)
}

// opensshDecode unmarshals an event's message.
func opensshDecode[T any](t *testing.T, name string, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v: %s", name, err, raw)
	}
	return v
}

// TestRealOpenSSH monitors this very machine through a real OpenSSH sshd
// on 127.0.0.1 (a throwaway user, a password and an ed25519 key) through
// /monitor, and checks the events against the machine's own /proc: the
// same memory total and swap, the uptime and the counters of net_dev and
// net_stat between two reads of the files made before and after, the same
// processors, interfaces and root file system, the load within 1.0. A
// second watcher of the same user@host:port with the key shares the one
// SSH connection; the key alone logs in once the password's watch is
// gone; a wrong password is refused without being echoed; nothing is left
// running.
//
// It needs root, /usr/sbin/sshd (openssh-server), useradd, chpasswd and
// userdel; it skips without them, and fails without them when CI=true.
func TestRealOpenSSH(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	d := startOpenSSHD(t)
	sshKey := d.user + "@127.0.0.1:" + strconv.Itoa(d.port)
	// The product's timeouts (5 s dial, 10 s handshake): a real sshd
	// checking a password on a busy machine takes longer than the 1 s of
	// the in-process servers' tests (a wrong password came back as a
	// handshake timeout under load).
	e := newMonitorEnvWith(t, PoolConfig{})
	all := []string{EventMemory, EventUptime, EventLoadavg, EventCPUInfo, EventCPUPerf, EventNetDev, EventNetStat, EventDisk, EventProcess}

	// 1. The password.
	before := opensshReadLocal(t)
	a := e.dial(t)
	a.send(d.request("pw", "ssh.start_monitor", d.password, nil))
	if m := a.reply(`"pw"`); m.Error != nil || m.Result != nil {
		t.Fatalf("start with the password: error %s, result %v", opensshErr(m, d.password), m.Result)
	}
	d.waitLog(t, "Accepted password for "+d.user+" from 127.0.0.1")
	got := a.more(append([]string{"connected"}, all...)...)
	after := opensshReadLocal(t)
	for name, raw := range got {
		var key struct {
			SSHKey string `json:"ssh_key"`
		}
		if json.Unmarshal(raw, &key); key.SSHKey != sshKey {
			t.Errorf("%s: ssh_key %q, want %q", name, key.SSHKey, sshKey)
		}
	}

	mem := opensshDecode[MemoryMessage](t, EventMemory, got[EventMemory]).Memory
	if mem.Total != after.memTotalKiB*1024 {
		t.Errorf("memory total %d, /proc/meminfo MemTotal %d kB = %d", mem.Total, after.memTotalKiB, after.memTotalKiB*1024)
	}
	meminfo := opensshRead(t, "/proc/meminfo")
	if swap := uint64(opensshLine(t, meminfo, "SwapTotal:")[0]) * 1024; mem.SwapTotal != swap {
		t.Errorf("memory swap_total %d, /proc/meminfo says %d", mem.SwapTotal, swap)
	}
	if mem.Available > mem.Total || mem.Used != mem.Total-mem.Available || mem.Free > mem.Total {
		t.Errorf("memory: %+v", mem)
	}

	up := opensshDecode[UptimeMessage](t, EventUptime, got[EventUptime]).Uptime
	if up.Seconds < before.uptime || up.Seconds > after.uptime || math.Abs(up.Seconds-after.uptime) > 5 {
		t.Errorf("uptime %.2f s, /proc/uptime read before %.2f and after %.2f", up.Seconds, before.uptime, after.uptime)
	}

	load := opensshDecode[LoadavgMessage](t, EventLoadavg, got[EventLoadavg]).Loadavg
	if math.Abs(load.Load1-after.load1) > 1.0 {
		t.Errorf("loadavg load1 %.2f, /proc/loadavg %.2f", load.Load1, after.load1)
	}

	nproc := 0
	for line := range strings.Lines(opensshRead(t, "/proc/cpuinfo")) {
		if k, _, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "processor" {
			nproc++
		}
	}
	info := opensshDecode[CPUInfoMessage](t, EventCPUInfo, got[EventCPUInfo]).CPUInfo
	var procs []int
	for _, sock := range info {
		for _, core := range sock.CPUCoreInfo {
			for p := range core.CPUProcessorInfo {
				procs = append(procs, p)
			}
		}
	}
	slices.Sort(procs)
	if len(procs) != nproc || nproc == 0 {
		t.Errorf("cpu_info has %d processors %v, /proc/cpuinfo %d", len(procs), procs, nproc)
	}

	perf := opensshDecode[CPUPerfMessage](t, EventCPUPerf, got[EventCPUPerf]).CPUPerf
	if len(perf.Processors) != nproc {
		t.Errorf("cpu_perf has %d processors, /proc/cpuinfo %d", len(perf.Processors), nproc)
	}
	for _, u := range append([]CPUUsage{perf.Total}, slices.Collect(maps.Values(perf.Processors))...) {
		sum := u.User + u.System + u.Iowait + u.Steal + u.Idle
		if u.Utilization < 0 || u.Utilization > 100.001 || (sum != 0 && math.Abs(sum-100) > 0.1) {
			t.Errorf("cpu_perf: %+v (sum %.3f)", u, sum)
		}
	}

	netDev := opensshDecode[NetDevMessage](t, EventNetDev, got[EventNetDev]).NetDev
	var gotIf, wantIf []string
	for name := range netDev {
		gotIf = append(gotIf, name)
	}
	for name := range after.netDev {
		wantIf = append(wantIf, name)
	}
	slices.Sort(gotIf)
	slices.Sort(wantIf)
	if !slices.Equal(gotIf, wantIf) {
		t.Errorf("net_dev interfaces %v, /proc/net/dev %v", gotIf, wantIf)
	}
	for name, ifc := range netDev {
		lo, ok := before.netDev[name]
		hi := after.netDev[name]
		if !ok {
			continue // an interface that came meanwhile
		}
		if ifc.RxBytes < lo[0] || ifc.RxBytes > hi[0] || ifc.TxBytes < lo[1] || ifc.TxBytes > hi[1] {
			t.Errorf("net_dev %s: rx %d tx %d bytes, /proc/net/dev before rx %d tx %d, after rx %d tx %d",
				name, ifc.RxBytes, ifc.TxBytes, lo[0], lo[1], hi[0], hi[1])
		}
	}

	ns := opensshDecode[NetStatMessage](t, EventNetStat, got[EventNetStat]).NetStat
	if delta := ns.TCP.CurrEstab - after.currEstab; delta < -50 || delta > 50 {
		t.Errorf("net_stat tcp curr_estab %d, /proc/net/snmp %d", ns.TCP.CurrEstab, after.currEstab)
	}
	for _, c := range []struct {
		name               string
		got, before, after int64
	}{
		{"tcp active_opens", ns.TCP.ActiveOpens, before.tcpActive, after.tcpActive},
		{"tcp in_segs", ns.TCP.InSegs, before.tcpInSegs, after.tcpInSegs},
		{"udp out_datagrams", ns.UDP.OutDatagrams, before.udpOut, after.udpOut},
	} {
		if c.got < c.before || c.got > c.after {
			t.Errorf("net_stat %s %d, /proc/net/snmp before %d, after %d", c.name, c.got, c.before, c.after)
		}
	}

	disk := opensshDecode[DiskMessage](t, EventDisk, got[EventDisk]).Disk
	var mounts []string
	for _, fs := range disk.FileSystems {
		mounts = append(mounts, fs.MountPoint)
	}
	var rootDev, rootType string
	for line := range strings.Lines(opensshRead(t, "/proc/mounts")) {
		if f := strings.Fields(line); len(f) >= 3 && f[1] == "/" {
			rootDev, rootType = f[0], f[2] // the last mount of / is the visible one
		}
	}
	i := slices.IndexFunc(disk.FileSystems, func(fs FileSystem) bool { return fs.MountPoint == "/" })
	switch {
	case i >= 0:
		var st syscall.Statfs_t
		if err := syscall.Statfs("/", &st); err != nil {
			t.Fatal(err)
		}
		total := st.Blocks * uint64(st.Frsize)
		used := (st.Blocks - st.Bfree) * uint64(st.Frsize)
		if fs := disk.FileSystems[i]; !near(fs.Total, total) || !near(fs.Used, used) {
			t.Errorf("disk /: total %d used %d, statfs(2) %d %d", fs.Total, fs.Used, total, used)
		}
	case strings.HasPrefix(rootDev, "/dev/"):
		t.Errorf("disk file_systems %v lack /, mounted from %s (%s)", mounts, rootDev, rootType)
	default: // a container's overlay: not a block file system, rightly left out
		t.Logf("/ is %s from %s: not in disk file_systems %v, as documented", rootType, rootDev, mounts)
	}

	ps := opensshDecode[ProcessMessage](t, EventProcess, got[EventProcess]).Process
	alive := 0
	for _, p := range ps {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/comm"); err == nil && strings.TrimSpace(string(b)) == p.Name {
			alive++
		}
	}
	if len(ps) == 0 || len(ps) > TopProcesses || alive == 0 {
		t.Errorf("process: %d processes, %d of them still running here with that name: %+v", len(ps), alive, ps)
	}

	// 2. The key, for the same user@host:port: the same watch, the same
	// SSH connection once the key has proven itself with a login of its
	// own (other secrets than the first watcher's are never taken on trust).
	b := e.dial(t)
	b.send(d.request("key", "ssh.start_monitor", "", d.key))
	if m := b.reply(`"key"`); m.Error != nil {
		t.Fatalf("start with the key: %s", opensshErr(m, d.password))
	}
	b.events(EventMemory, EventCPUInfo, EventUptime)
	d.waitLog(t, "Accepted publickey for "+d.user+" from 127.0.0.1")
	if n := e.pool.Dials(); n != 2 {
		t.Errorf("%d SSH logins for two watchers of %s with two secrets, want 2 (one of them only to check the key)", n, sshKey)
	}
	// A wrong password for the watched target is refused too.
	wrongWhileWatched := "wrong-" + opensshRandHex(t, 8)
	b.send(d.request("bad-watched", "ssh.start_monitor", wrongWhileWatched, nil))
	if m := b.reply(`"bad-watched"`); m.Error == nil || !strings.Contains(*m.Error, "unable to authenticate") {
		t.Fatalf("a wrong password for a watched host: %s", opensshErr(m, d.password, wrongWhileWatched))
	}

	// 3. Both stop: the connection closes. The key alone logs in anew.
	a.send(d.request("stop-a", "ssh.stop_monitor", "", nil))
	if m := a.reply(`"stop-a"`); m.Error != nil {
		t.Fatalf("stop a: %s", *m.Error)
	}
	b.send(d.request("stop-b", "ssh.stop_monitor", "", nil))
	if m := b.reply(`"stop-b"`); m.Error != nil {
		t.Fatalf("stop b: %s", *m.Error)
	}
	if w := e.m.Watching(); len(w) != 0 {
		t.Fatalf("still watching %v after both stopped", w)
	}
	b.send(d.request("key2", "ssh.start_monitor", "", d.key))
	if m := b.reply(`"key2"`); m.Error != nil {
		t.Fatalf("start with the key alone: %s", opensshErr(m, d.password))
	}
	d.waitLog(t, "Accepted publickey for "+d.user+" from 127.0.0.1")
	got = b.events(EventMemory, EventLoadavg, EventNetDev)
	if mem := opensshDecode[MemoryMessage](t, EventMemory, got[EventMemory]).Memory; mem.Total != after.memTotalKiB*1024 {
		t.Errorf("over the key: memory total %d, want %d", mem.Total, after.memTotalKiB*1024)
	}
	if n := e.pool.Dials(); n != 3 {
		t.Errorf("%d SSH logins after the key's own login, want 3", n)
	}
	b.send(d.request("stop-b2", "ssh.stop_monitor", "", nil))
	if m := b.reply(`"stop-b2"`); m.Error != nil {
		t.Fatalf("stop b: %s", *m.Error)
	}

	// 4. A wrong password, the target being watched by no one: refused,
	// and not echoed.
	wrong := "wrong-" + opensshRandHex(t, 8)
	c := e.dial(t)
	c.send(d.request("bad", "ssh.start_monitor", wrong, nil))
	m := c.reply(`"bad"`)
	if m.Error == nil || !strings.Contains(*m.Error, "unable to authenticate") {
		t.Fatalf("wrong password: error %s, want one saying \"unable to authenticate\"", opensshErr(m, d.password, wrong))
	}
	if strings.Contains(*m.Error, wrong) || strings.Contains(*m.Error, d.password) {
		t.Fatal("the error echoes a password")
	}
	if w := e.m.Watching(); len(w) != 0 || e.pool.Dials() != 3 {
		t.Errorf("after the wrong password: watching %v, %d dials", w, e.pool.Dials())
	}

	// 5. Nothing left running.
	for _, cl := range []*wsClient{a, b, c} {
		cl.conn.Close()
	}
	e.stop()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, were %d\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
