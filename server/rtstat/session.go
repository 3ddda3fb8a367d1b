package rtstat

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"math"
	"net/netip"
	"strconv"
	"time"
)

// Error texts, exactly as the original Rt-Stat server words them.
const (
	ErrTextNotAuthorized   = "Not authorized"
	ErrTextAuthFailed      = "Auth failed"
	ErrTextAuthNoToken     = "Auth command has 1 required parameter: string token (not set)"
	ErrTextAlreadyStarted  = "Already started"
	ErrTextNoInterval      = "Interval is not set"
	ErrTextNotStarted      = "Not started"
	ErrTextIntervalTooLow  = "Interval command has must be equal or greater than 0.5"
	ErrTextIntervalNoArg   = "Interval command has 1 required parameter: int interval (not set)"
	ErrTextIntervalBad     = "Interval command has 1 required parameter: int interval (not positive float)"
	ErrTextUnknownCommand  = "Unknown command"
	ErrTextUnknownMessage  = "Unknown message"
	ErrTextIntervalTooHigh = "Interval command has must be equal or less than 86400"
	ErrTextLineTooLong     = "Line too long"
	ErrTextTooManyClients  = "Too many clients"
	ErrTextShuttingDown    = "Server shutting down"
)

// MinInterval and MaxInterval bound the push interval.
const (
	MinInterval = 500 * time.Millisecond
	MaxInterval = 24 * time.Hour
)

// A transport delivers encoded messages to one client.
type transport interface {
	// send queues one message; push frames are droppable, replies are not.
	send(command string, args ...string)
	sendFrame(f *Frame)
	// setPushing marks the client started (its slot is then its own).
	setPushing(bool)
}

// session is the protocol state of one client, apart from its transport so
// raw TCP and WebSocket behave identically.
type session struct {
	svc        *Service
	t          transport
	authorized bool
	interval   time.Duration
	started    bool
	remote     netip.Addr // counted by the guard for wrong tokens
	ws         bool
}

// Push implements Subscriber.
func (s *session) Push(f *Frame) { s.t.sendFrame(f) }

// handle processes one message and reports whether the client asked to quit.
func (s *session) handle(line []byte) (quit bool) {
	m, err := ParseMessage(line)
	if errors.Is(err, ErrEmpty) {
		s.error(ErrTextUnknownMessage)
		return false
	}
	if s.svc.tokenSet && !s.authorized {
		switch m.Command {
		case "start", "stop", "interval":
			s.error(ErrTextNotAuthorized)
			return false
		}
	}
	switch m.Command {
	case "auth":
		if len(m.Args) < 1 {
			s.error(ErrTextAuthNoToken)
			return false
		}
		s.auth(m.Args[0])
	case "start":
		switch {
		case s.started:
			s.error(ErrTextAlreadyStarted)
		case s.interval == 0:
			s.error(ErrTextNoInterval)
		default:
			if err := s.svc.hub.Subscribe(s.interval, s); err != nil {
				s.error(err.Error())
				return false
			}
			s.started = true
			s.t.setPushing(true)
		}
	case "stop":
		if !s.started {
			s.error(ErrTextNotStarted)
			return false
		}
		s.stop()
	case "interval":
		s.setInterval(m.Args)
	case "version":
		s.t.send("Version", s.svc.version)
	case "quit", "exit":
		return true
	case "pong":
		// Answer to the ping of newer Rt-Stat servers; we send none, but a
		// client may still say it.
	default:
		s.error(ErrTextUnknownCommand)
	}
	return false
}

func (s *session) setInterval(args []string) {
	if len(args) < 1 {
		s.error(ErrTextIntervalNoArg)
		return
	}
	v, err := strconv.ParseFloat(args[0], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		s.error(ErrTextIntervalBad)
		return
	}
	if v < MinInterval.Seconds() {
		s.error(ErrTextIntervalTooLow)
		return
	}
	if v > MaxInterval.Seconds() {
		s.error(ErrTextIntervalTooHigh)
		return
	}
	// Milliseconds are plenty, and a coarser key lets more clients share a group.
	iv := time.Duration(math.Round(v*1000)) * time.Millisecond
	if !s.started {
		s.interval = iv
		return
	}
	// Changing the interval while started restarts the timer: the client
	// moves to the clock of its new interval.
	if err := s.svc.hub.Subscribe(iv, s); err != nil {
		s.error(err.Error())
		return
	}
	if iv != s.interval {
		s.svc.hub.Unsubscribe(s.interval, s)
	}
	s.interval = iv
}

func (s *session) stop() {
	if s.started {
		s.svc.hub.Unsubscribe(s.interval, s)
		s.started = false
		s.t.setPushing(false)
	}
}

func (s *session) error(text string) { s.t.send("Error", text) }

// auth answers auth::TOKEN. A source that sent too many wrong tokens gets
// "Auth failed" without its token being compared, so one connection cannot
// guess at line speed; every wrong token is logged, and the refusal once.
func (s *session) auth(token string) {
	if !s.svc.tokenSet {
		s.authorized = false // as the original: without a token set, auth fails
		s.error(ErrTextAuthFailed)
		return
	}
	now := time.Now()
	if s.svc.guard.Blocked(s.remote, now) > 0 {
		s.authorized = false
		s.error(ErrTextAuthFailed)
		return
	}
	s.authorized = s.svc.checkToken(token)
	if s.authorized {
		return
	}
	transport := "raw"
	if s.ws {
		transport = "websocket"
	}
	if s.svc.guard.Fail(s.remote, now) {
		s.svc.log.Warn("rtstat: too many wrong tokens; this source's auth is refused for a minute",
			"remote", s.remote.String(), "transport", transport)
	} else {
		s.svc.log.Warn("rtstat: wrong token", "remote", s.remote.String(), "transport", transport)
	}
	s.error(ErrTextAuthFailed)
}

// tokenHash lets checkToken compare in constant time whatever the lengths.
func tokenHash(token string) [32]byte { return sha256.Sum256([]byte(token)) }

func (svc *Service) checkToken(token string) bool {
	h := tokenHash(token)
	return subtle.ConstantTimeCompare(h[:], svc.tokenHash[:]) == 1
}
