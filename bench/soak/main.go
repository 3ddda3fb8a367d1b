// Command soak is the load of bench/soak.sh besides what wsload, sshhosts
// and monclient bring: operator sessions kept running, a churn of Rt-Stat
// clients that come and go, and garbage (bench/garbage) spread over the
// run. It runs until -duration passes or SIGINT/SIGTERM.
//
//   - Sessions: -sessions slots, each starting a segmented emulator session
//     through POST /post/ with -session-count packets, reading its stream
//     at -session-rate bytes per second (an emulator session goes at the
//     pace of its reader), and, when the stream ends, deleting the session
//     (DELETE /sessions/ID, which removes its segment files) and starting
//     the next. Slot i starts -session-stagger × i late.
//   - Churn: -churn connections a second, raw or WebSocket at random, each
//     asking for pushes every second (interval::1, start) and staying
//     -stay-min to -stay-max; half say quit (raw) or send a close frame
//     (WebSocket), half just drop the connection.
//   - Garbage: -garbage bytes in all at an even rate over -garbage-over, split
//     over the raw side, HTTP, and WebSocket upgrades to /, /monitor and
//     /traffic/live.
//
// Output, one JSON object a line on stdout: {"event":"progress",...} every
// -report, and {"event":"summary",...} at the end.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"edgestat/bench/garbage"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type config struct {
	addr        string
	sessions    int
	count       int
	sessionRate int
	stagger     time.Duration
	churn       float64
	stayMin     time.Duration
	stayMax     time.Duration
	maxChurn    int
	garbage     int64
	garbageOver time.Duration
	duration    time.Duration
}

func run() error {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:8000", "edgestat's shared port (loopback only)")
	flag.IntVar(&c.sessions, "sessions", 5, "operator sessions kept running")
	flag.IntVar(&c.count, "session-count", 60000, "packets of each session")
	flag.IntVar(&c.sessionRate, "session-rate", 512<<10, "bytes per second each session's stream is read at (the session goes at this pace)")
	flag.DurationVar(&c.stagger, "session-stagger", 12*time.Second, "slot i starts its first session i times this late, so the sessions do not run in step")
	flag.Float64Var(&c.churn, "churn", 20, "Rt-Stat clients connecting per second")
	flag.DurationVar(&c.stayMin, "stay-min", time.Second, "shortest stay of a churn client")
	flag.DurationVar(&c.stayMax, "stay-max", 5*time.Second, "longest stay of a churn client")
	flag.IntVar(&c.maxChurn, "max-churn", 500, "churn clients at once, at most")
	flag.Int64Var(&c.garbage, "garbage", 1<<30, "garbage bytes in all")
	flag.DurationVar(&c.garbageOver, "garbage-over", 0, "spread the garbage over this long (0: -duration)")
	flag.DurationVar(&c.duration, "duration", 10*time.Minute, "how long to run")
	report := flag.Duration("report", 10*time.Second, "progress line this often")
	flag.Parse()

	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %s: only loopback hosts are allowed", c.addr)
	}
	if c.garbageOver <= 0 {
		c.garbageOver = c.duration
	}
	if c.duration <= 0 || c.stayMin <= 0 || c.stayMax < c.stayMin || c.maxChurn < 1 {
		return errors.New("-duration and -stay-min must be positive, -stay-max at least -stay-min, -max-churn at least 1")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()

	s := &soak{cfg: c, http: &http.Client{Timeout: 30 * time.Second}, errs: map[string]int{}}
	var budget [garbage.NumKinds]int64
	budget[garbage.Raw] = c.garbage * 35 / 100
	budget[garbage.HTTP] = c.garbage * 25 / 100
	budget[garbage.WSRtStat] = c.garbage * 20 / 100
	budget[garbage.WSMonitor] = c.garbage * 10 / 100
	budget[garbage.WSLive] = c.garbage * 10 / 100
	s.garbage = garbage.New(garbage.Options{
		Addr: c.addr, Budget: budget, Workers: 2, MaxPerConn: 1 << 20,
		Rate: float64(c.garbage) / c.garbageOver.Seconds(),
		Note: func(msg string) { s.note("garbage: " + msg) },
	})

	t0 := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.garbage.Run(ctx) }()
	for i := range c.sessions {
		wg.Add(1)
		go func() { defer wg.Done(); s.sessionSlot(ctx, i) }()
	}
	if c.churn > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); s.churnLoop(ctx) }()
	}

	out := json.NewEncoder(os.Stdout)
	tick := time.NewTicker(*report)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			_ = out.Encode(s.stats("progress", t0))
		}
	}
	wg.Wait()
	sum := s.stats("summary", t0)
	for k := range garbage.NumKinds {
		sum["garbage "+k.String()] = s.garbage.Counts(k)
	}
	s.mu.Lock()
	sum["errors"] = s.errs
	s.mu.Unlock()
	return out.Encode(sum)
}

type soak struct {
	cfg     config
	http    *http.Client
	garbage *garbage.Runner

	sessStarted, sessDone, sessRefused, sessFailed, sessBytes atomic.Int64
	sessRunning                                               atomic.Int64
	churnConns, churnFailed, churnPushes, churnNow, churnSkip atomic.Int64
	churnCut                                                  atomic.Int64 // ended by the server before their stay

	mu   sync.Mutex
	errs map[string]int
}

// note counts an error by its text, with a bound on distinct texts.
func (s *soak) note(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.errs[msg]; ok || len(s.errs) < 30 {
		s.errs[msg]++
	} else {
		s.errs["(other)"]++
	}
}

func (s *soak) stats(event string, t0 time.Time) map[string]any {
	return map[string]any{
		"event": event, "t": int64(time.Since(t0).Seconds()),
		"garbage_mib":      float64(s.garbage.Total()*100>>20) / 100,
		"sessions_started": s.sessStarted.Load(), "sessions_done": s.sessDone.Load(),
		"sessions_running": s.sessRunning.Load(), "sessions_refused": s.sessRefused.Load(),
		"sessions_failed": s.sessFailed.Load(), "session_mib": float64(s.sessBytes.Load()*100>>20) / 100,
		"churn_connects": s.churnConns.Load(), "churn_failed": s.churnFailed.Load(),
		"churn_cut": s.churnCut.Load(), "churn_skipped": s.churnSkip.Load(),
		"churn_now": s.churnNow.Load(), "churn_pushes": s.churnPushes.Load(),
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// sessionSlot keeps one operator session running: start, read its stream
// to the end at the set rate, delete it, start the next.
func (s *soak) sessionSlot(ctx context.Context, slot int) {
	if !sleep(ctx, time.Duration(slot)*s.cfg.stagger) {
		return
	}
	body := fmt.Sprintf(`{"count": %d, "plain_stream": false}`, s.cfg.count)
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.cfg.addr+"/post/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.http.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				s.sessFailed.Add(1)
				s.note("POST /post/: " + err.Error())
				sleep(ctx, 2*time.Second)
			}
			continue
		}
		var ans struct {
			ID       string `json:"session_id"`
			Location string `json:"location"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &ans) != nil || ans.ID == "" {
			if resp.StatusCode == http.StatusServiceUnavailable {
				s.sessRefused.Add(1)
			} else {
				s.sessFailed.Add(1)
			}
			s.note(fmt.Sprintf("POST /post/: %d %.120s", resp.StatusCode, bytes.TrimSpace(b)))
			sleep(ctx, 2*time.Second)
			continue
		}
		s.sessStarted.Add(1)
		s.sessRunning.Add(1)
		err = s.readStream(ctx, strings.TrimPrefix(ans.Location, "tcp://"))
		s.sessRunning.Add(-1)
		if err != nil && ctx.Err() == nil {
			s.sessFailed.Add(1)
			s.note("session stream: " + err.Error())
		} else if err == nil {
			s.sessDone.Add(1)
		}
		// Delete it even when ctx ended: its files go with it.
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ = http.NewRequestWithContext(dctx, http.MethodDelete, "http://"+s.cfg.addr+"/sessions/"+ans.ID, nil)
		if resp, err := s.http.Do(req); err != nil {
			s.note("DELETE /sessions/ID: " + err.Error())
		} else {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
				s.note(fmt.Sprintf("DELETE /sessions/ID: %d", resp.StatusCode))
			}
		}
		cancel()
	}
}

// readStream reads a session's pcap stream to its end, at most
// sessionRate bytes a second.
func (s *soak) readStream(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	buf := make([]byte, 16<<10)
	began := time.Now()
	var n int64
	for {
		_ = nc.SetReadDeadline(time.Now().Add(60 * time.Second))
		m, err := nc.Read(buf)
		n += int64(m)
		s.sessBytes.Add(int64(m))
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if due := began.Add(time.Duration(float64(n) / float64(s.cfg.sessionRate) * float64(time.Second))); time.Until(due) > 0 {
			if !sleep(ctx, time.Until(due)) {
				return ctx.Err()
			}
		}
	}
}

// churnLoop starts churn clients at the set rate, each on its own
// goroutine, at most maxChurn at once.
func (s *soak) churnLoop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, s.cfg.maxChurn)
	tick := time.NewTicker(time.Duration(float64(time.Second) / s.cfg.churn))
	defer tick.Stop()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			s.churnSkip.Add(1) // the server is so slow that maxChurn are waiting
			continue
		}
		stay := s.cfg.stayMin + time.Duration(rng.Int64N(int64(s.cfg.stayMax-s.cfg.stayMin)+1))
		webSocket, polite := rng.IntN(2) == 0, rng.IntN(2) == 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.churnNow.Add(1)
			defer s.churnNow.Add(-1)
			var err error
			if webSocket {
				err = s.churnWS(ctx, stay, polite)
			} else {
				err = s.churnRaw(ctx, stay, polite)
			}
			if err != nil && ctx.Err() == nil {
				s.note("churn: " + err.Error())
			}
		}()
	}
}

var errCut = errors.New("the server ended the connection before the stay")

// churnRaw is a raw client that asks for pushes and stays a while.
func (s *soak) churnRaw(ctx context.Context, stay time.Duration, polite bool) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", s.cfg.addr)
	if err != nil {
		s.churnFailed.Add(1)
		return err
	}
	s.churnConns.Add(1)
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	if _, err := nc.Write([]byte("interval::1\nstart\n")); err != nil {
		return err
	}
	t0 := time.Now() // before the timer: the stay is over once it fired
	leave := time.AfterFunc(stay, func() {
		if polite {
			_, _ = nc.Write([]byte("quit\n")) // the server closes
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		} else {
			_ = nc.Close()
		}
	})
	defer leave.Stop()
	br := bufio.NewReaderSize(nc, 8<<10)
	for {
		line, err := br.ReadSlice('\n')
		if bytes.HasPrefix(line, []byte("Push::")) {
			s.churnPushes.Add(1)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if time.Since(t0) < stay && ctx.Err() == nil {
				s.churnCut.Add(1)
				return fmt.Errorf("raw: %w: %v", errCut, err)
			}
			return nil
		}
	}
}

// churnWS is a WebSocket client on / that asks for pushes and stays a while.
func (s *soak) churnWS(ctx context.Context, stay time.Duration, polite bool) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	nc, br, _, err := ws.Dial(dctx, "ws://"+s.cfg.addr+"/")
	cancel()
	if err != nil {
		s.churnFailed.Add(1)
		return err
	}
	s.churnConns.Add(1)
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	var rd io.Reader = nc
	if br != nil {
		rd = io.MultiReader(io.LimitReader(br, int64(br.Buffered())), nc)
	}
	var wmu sync.Mutex // the reader answers pings while leave may write
	w := writerFunc(func(p []byte) (int, error) {
		wmu.Lock()
		defer wmu.Unlock()
		return nc.Write(p)
	})
	rw := struct {
		io.Reader
		io.Writer
	}{rd, w}
	for _, m := range []string{"interval::1", "start::"} {
		if err := wsutil.WriteClientText(w, []byte(m)); err != nil {
			return err
		}
	}
	t0 := time.Now()
	leave := time.AfterFunc(stay, func() {
		if polite {
			_ = wsutil.WriteClientMessage(w, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		} else {
			_ = nc.Close()
		}
	})
	defer leave.Stop()
	for {
		msg, _, err := wsutil.ReadServerData(rw)
		if err != nil {
			if time.Since(t0) < stay && ctx.Err() == nil {
				s.churnCut.Add(1)
				return fmt.Errorf("websocket: %w: %v", errCut, err)
			}
			return nil
		}
		if bytes.HasPrefix(msg, []byte("Push::")) {
			s.churnPushes.Add(1)
		}
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
