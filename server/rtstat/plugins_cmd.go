package rtstat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// MaxCommandOutput bounds what a command plugin may print per tick.
const MaxCommandOutput = 64 << 10

// A CommandSpec is a user plugin given as `--plugin NAME=COMMAND`.
type CommandSpec struct {
	Name    string
	Command string
}

// ParseCommandSpec parses NAME=COMMAND.
func ParseCommandSpec(s string) (CommandSpec, error) {
	name, cmd, ok := strings.Cut(s, "=")
	name, cmd = strings.TrimSpace(name), strings.TrimSpace(cmd)
	if !ok || name == "" || cmd == "" {
		return CommandSpec{}, fmt.Errorf("plugin %q: want NAME=COMMAND", s)
	}
	for _, r := range name {
		if !(r == '_' || r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return CommandSpec{}, fmt.Errorf("plugin %q: name may hold letters, digits, '_', '-' and '.'", s)
		}
	}
	return CommandSpec{Name: name, Command: cmd}, nil
}

// CommandPlugin runs a shell command on each tick of its group; the
// command's stdout, which must be one JSON value, becomes the plugin's value.
type CommandPlugin struct {
	spec    CommandSpec
	timeout time.Duration
	out     limitedBuffer
}

// NewCommandPlugin returns a plugin running spec with the given timeout.
func NewCommandPlugin(spec CommandSpec, timeout time.Duration) *CommandPlugin {
	return &CommandPlugin{spec: spec, timeout: timeout}
}

// Name implements Plugin.
func (p *CommandPlugin) Name() string { return p.spec.Name }

// Concurrent tells the hub not to make other plugins wait for this one.
func (p *CommandPlugin) Concurrent() bool { return true }

// Collect implements Plugin.
func (p *CommandPlugin) Collect(ctx context.Context, dst []byte, _ time.Time) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", p.spec.Command)
	// Its own process group, so a timeout kills what the shell started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 100 * time.Millisecond
	p.out.reset(MaxCommandOutput)
	cmd.Stdout = &p.out
	err := cmd.Run()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return dst, fmt.Errorf("command timed out after %s", p.timeout)
	case p.out.overflow:
		return dst, fmt.Errorf("command output exceeds %d bytes", MaxCommandOutput)
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return dst, fmt.Errorf("command failed: %s", ee.ProcessState)
		}
		return dst, fmt.Errorf("command failed: %w", err)
	}
	out := bytes.TrimSpace(p.out.b)
	if len(out) == 0 || !json.Valid(out) {
		return dst, errors.New("command output is not one JSON value")
	}
	return append(dst, out...), nil
}

// limitedBuffer keeps at most max bytes and notes that more came; writes
// never fail, so a chatty command is not killed by SIGPIPE mid-way.
type limitedBuffer struct {
	b        []byte
	max      int
	overflow bool
}

func (l *limitedBuffer) reset(max int) { l.b, l.max, l.overflow = l.b[:0], max, false }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := l.max - len(l.b); n > room {
		l.overflow = true
		p = p[:max(room, 0)]
	}
	l.b = append(l.b, p...)
	return n, nil
}
