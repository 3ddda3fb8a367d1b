package rtstat

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseCommandSpec(t *testing.T) {
	good, err := ParseCommandSpec("wifi = iw dev wlan0 station dump | wc -l")
	if err != nil || good.Name != "wifi" || good.Command != "iw dev wlan0 station dump | wc -l" {
		t.Fatalf("got %+v, %v", good, err)
	}
	for _, bad := range []string{"", "noequals", "=cmd", "name=", "bad name=true", `q"=true`} {
		if _, err := ParseCommandSpec(bad); err == nil {
			t.Errorf("ParseCommandSpec(%q): no error", bad)
		}
	}
}

func TestCommandPlugin(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	tests := []struct {
		name, cmd string
		want      string // JSON value, or "error:" + a substring of the error
	}{
		{"json", `printf '{"up": 1}\n'`, `{"up": 1}`},
		{"number", "echo 42", "42"},
		{"fails", "echo oops >&2; exit 3", "error:exit status 3"},
		{"not json", "echo hello", "error:not one JSON value"},
		{"empty", "true", "error:not one JSON value"},
		{"too big", "head -c 200000 /dev/zero | tr '\\0' 1", "error:exceeds 65536 bytes"},
		{"slow", "sleep 5; echo 1", "error:timed out"},
		{"slow child", "(sleep 5; echo 1) & wait", "error:timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewCommandPlugin(CommandSpec{Name: "x", Command: tt.cmd}, 300*time.Millisecond)
			start := time.Now()
			got, err := p.Collect(context.Background(), []byte("prefix"), time.Now())
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v with a 300ms timeout", d)
			}
			if want, ok := strings.CutPrefix(tt.want, "error:"); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want one containing %q", err, want)
				}
				if string(got) != "prefix" {
					t.Fatalf("dst changed on error: %q", got)
				}
				return
			}
			if err != nil || string(got) != "prefix"+tt.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

// A failing plugin becomes an error value for its key; the push goes out.
func TestCollectorErrorValue(t *testing.T) {
	c := newCollector([]Plugin{
		&counterPlugin{},
		NewCommandPlugin(CommandSpec{Name: "broken", Command: "exit 1"}, time.Second),
		NewCommandPlugin(CommandSpec{Name: "ok", Command: `echo '["a"]'`}, time.Second),
	})
	f, errs := c.collect(context.Background(), time.Now())
	if errs != 1 {
		t.Fatalf("errs = %d, want 1", errs)
	}
	m, err := ParseMessage(f.Raw)
	if err != nil || m.Command != "push" {
		t.Fatalf("frame %q", f.Raw)
	}
	var v struct {
		Counter struct{ N int }
		Broken  struct{ Error string }
		OK      []string `json:"ok"`
	}
	if err := json.Unmarshal([]byte(m.Args[0]), &v); err != nil {
		t.Fatalf("%s: %v", m.Args[0], err)
	}
	if v.Counter.N != 1 || !strings.Contains(v.Broken.Error, "exit status 1") || len(v.OK) != 1 {
		t.Fatalf("push = %s", m.Args[0])
	}
}
