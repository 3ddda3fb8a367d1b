// Command sshhosts plays many monitored hosts for bench/monitor.sh: it
// starts -n real SSH servers (golang.org/x/crypto/ssh) on 127.0.0.1, each
// with its own ed25519 host key and password authentication, that run every
// "exec" request with /bin/sh, EDGESTAT_ROOT set to a fixture tree and a
// minimal PATH. edgestat's snapshot script cds into EDGESTAT_ROOT, so each
// server looks like a Linux host whose /proc is the fixture.
//
// It runs in its own process so that the servers' CPU (and the shells they
// fork) is not counted as edgestat's.
//
// Output: the bound ports on stdout, one per line, once every server
// listens. On SIGUSR1 a JSON line of the counts since the start goes to
// stderr; on SIGINT or SIGTERM everything is closed and a last one follows:
//
//	{"event":"mark","servers":100,"accepted":100,"refused":0,"execs":6000,...}
//	{"event":"summary",...}
//
// Failed commands are counted (exec_errors) and the first ten told on
// stderr; commands killed because sshhosts is exiting are not counted, but
// those cut short by the client going away first are (broken pipe).
//
// Bounds: -max-conns connections per server (more are closed at once),
// -max-sessions sessions at once per connection, a handshake deadline, an
// idle deadline refreshed by every read and write, and -cmd-timeout per
// command (the shell is killed past it).
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sshhosts:", err)
		os.Exit(1)
	}
}

// opts are the settings every server shares.
type opts struct {
	user, password string
	root           string // EDGESTAT_ROOT of the commands, absolute
	maxConns       int
	maxSessions    int
	handshake      time.Duration
	idle           time.Duration
	cmdTimeout     time.Duration
}

func run() error {
	n := flag.Int("n", 100, "SSH servers to start")
	ports := flag.String("ports", "", "comma-separated ports, one per server (empty: the kernel picks)")
	var o opts
	flag.StringVar(&o.user, "user", "mon", "user name the servers accept")
	flag.StringVar(&o.password, "password", "secret", "password the servers accept")
	flag.StringVar(&o.root, "root", "server/sshmon/testdata/x86-server", "fixture tree given to commands as EDGESTAT_ROOT (made absolute)")
	flag.IntVar(&o.maxConns, "max-conns", 8, "connections open at once per server")
	flag.IntVar(&o.maxSessions, "max-sessions", 4, "sessions open at once per connection")
	flag.DurationVar(&o.handshake, "handshake-timeout", 10*time.Second, "deadline of the SSH handshake")
	flag.DurationVar(&o.idle, "idle-timeout", 2*time.Minute, "close a connection that reads and writes nothing this long")
	flag.DurationVar(&o.cmdTimeout, "cmd-timeout", 10*time.Second, "kill a command running longer")
	flag.Parse()

	if *n < 1 || o.maxConns < 1 || o.maxSessions < 1 {
		return errors.New("-n, -max-conns and -max-sessions must be positive")
	}
	addrs := make([]string, *n)
	for i := range addrs {
		addrs[i] = "127.0.0.1:0"
	}
	if *ports != "" {
		ps := strings.Split(*ports, ",")
		if len(ps) != *n {
			return fmt.Errorf("-ports has %d ports, -n is %d", len(ps), *n)
		}
		for i, p := range ps {
			if v, err := strconv.Atoi(strings.TrimSpace(p)); err != nil || v < 1 || v > 65535 {
				return fmt.Errorf("-ports: %q is not a port", p)
			}
			addrs[i] = "127.0.0.1:" + strings.TrimSpace(p)
		}
	}
	root, err := filepath.Abs(o.root)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "proc", "stat")); err != nil {
		return fmt.Errorf("-root %s: not a fixture tree: %w", root, err)
	}
	o.root = root

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	marks := make(chan os.Signal, 1)
	signal.Notify(marks, syscall.SIGUSR1) // before the ports are printed

	servers := make([]*server, 0, *n)
	closeAll := func() {
		for _, s := range servers {
			s.close()
		}
	}
	for _, a := range addrs {
		s, err := listen(ctx, a, &o)
		if err != nil {
			closeAll()
			return err
		}
		servers = append(servers, s)
	}
	var out strings.Builder
	for _, s := range servers {
		fmt.Fprintln(&out, s.ln.Addr().(*net.TCPAddr).Port)
	}
	os.Stdout.WriteString(out.String()) // one write: a reader sees all ports or none

	enc := json.NewEncoder(os.Stderr)
	for ctx.Err() == nil {
		select {
		case <-marks:
			_ = enc.Encode(counts("mark", servers))
		case <-ctx.Done():
		}
	}
	closeAll()
	return enc.Encode(counts("summary", servers))
}

// counts sums the servers' counters since the start.
func counts(event string, servers []*server) map[string]any {
	var accepted, refused, authFailed, execs, execErrs, timeouts int64
	for _, s := range servers {
		accepted += s.accepted.Load()
		refused += s.refused.Load()
		authFailed += s.authFailed.Load()
		execs += s.execs.Load()
		execErrs += s.execErrs.Load()
		timeouts += s.timeouts.Load()
	}
	return map[string]any{"event": event, "servers": len(servers),
		"accepted": accepted, "refused": refused, "auth_failed": authFailed,
		"execs": execs, "exec_errors": execErrs, "exec_timeouts": timeouts}
}

// server is one SSH server: a listener and its open connections.
type server struct {
	ctx context.Context // ends on SIGINT/SIGTERM: kills running commands
	o   *opts
	ln  net.Listener
	cfg *ssh.ServerConfig

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup // the accept loop and every connection

	accepted, refused, authFailed atomic.Int64
	execs, execErrs, timeouts     atomic.Int64
}

func listen(ctx context.Context, addr string, o *opts) (*server, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	key, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	s := &server{ctx: ctx, o: o, conns: map[net.Conn]bool{}}
	s.cfg = &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == o.user && string(pw) == o.password {
				return nil, nil
			}
			s.authFailed.Add(1)
			return nil, errors.New("wrong user or password")
		},
		MaxAuthTries: 3,
	}
	s.cfg.AddHostKey(key)
	if s.ln, err = net.Listen("tcp", addr); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// close stops accepting, closes every connection and waits for them.
func (s *server) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: do not spin
			continue
		}
		s.mu.Lock()
		if len(s.conns) >= s.o.maxConns {
			s.mu.Unlock()
			s.refused.Add(1)
			_ = nc.Close()
			continue
		}
		s.conns[nc] = true
		s.wg.Add(1)
		s.mu.Unlock()
		s.accepted.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, nc)
				s.mu.Unlock()
			}()
			s.serve(&idleConn{Conn: nc})
		}()
	}
}

// idleConn pushes its deadline back by idle on every read and write, so a
// peer that goes silent is dropped without bounding a busy connection.
// While idle is 0 (the handshake) the deadline is left as set.
type idleConn struct {
	net.Conn
	idle atomic.Int64 // nanoseconds
}

func (c *idleConn) touch() {
	if d := c.idle.Load(); d > 0 {
		_ = c.Conn.SetDeadline(time.Now().Add(time.Duration(d)))
	}
}

func (c *idleConn) Read(p []byte) (int, error) {
	c.touch()
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	c.touch()
	return c.Conn.Write(p)
}

func (s *server) serve(nc *idleConn) {
	defer nc.Close()
	// The handshake has a fixed deadline, then the idle one takes over.
	_ = nc.Conn.SetDeadline(time.Now().Add(s.o.handshake))
	sc, chans, reqs, err := ssh.NewServerConn(nc, s.cfg)
	if err != nil {
		return
	}
	nc.idle.Store(int64(s.o.idle))
	nc.touch()
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, s.o.maxSessions)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			_ = nch.Reject(ssh.ResourceShortage, "too many sessions")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			<-sem
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.session(ch, chReqs)
		}()
	}
}

// told counts the failed commands told on stderr (the first 10).
var told atomic.Int64

// session serves one channel: its first "exec" runs, other requests
// (pty-req, env, shell...) are refused.
func (s *server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		go ssh.DiscardRequests(reqs) // nothing more is served on this channel
		s.execs.Add(1)
		ctx, cancel := context.WithTimeout(s.ctx, s.o.cmdTimeout)
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", payload.Command)
		cmd.Env = []string{"EDGESTAT_ROOT=" + s.o.root, "PATH=/usr/bin:/bin"}
		cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
		cmd.WaitDelay = time.Second // a grandchild holding the pipes open
		code := 0
		began := time.Now()
		if err := cmd.Run(); err != nil {
			code = 255
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() >= 0 {
				code = ee.ExitCode()
			}
			if s.ctx.Err() == nil { // not killed because we are exiting
				s.execErrs.Add(1)
				if ctx.Err() != nil {
					s.timeouts.Add(1)
				}
				if told.Add(1) <= 10 {
					fmt.Fprintf(os.Stderr, "sshhosts: %s: exec after %v: %v\n",
						s.ln.Addr(), time.Since(began).Round(time.Millisecond), err)
				}
			}
		}
		cancel()
		status := make([]byte, 4)
		binary.BigEndian.PutUint32(status, uint32(code))
		_, _ = ch.SendRequest("exit-status", false, status)
		return
	}
}
