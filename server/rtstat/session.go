package rtstat

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"math"
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
}

// session is the protocol state of one client, apart from its transport so
// raw TCP and WebSocket behave identically.
type session struct {
	svc        *Service
	t          transport
	authorized bool
	interval   time.Duration
	started    bool
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
		// As the original: without a configured token, auth always fails.
		s.authorized = s.svc.tokenSet && s.svc.checkToken(m.Args[0])
		if !s.authorized {
			s.error(ErrTextAuthFailed)
		}
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
	}
}

func (s *session) error(text string) { s.t.send("Error", text) }

// tokenHash lets checkToken compare in constant time whatever the lengths.
func tokenHash(token string) [32]byte { return sha256.Sum256([]byte(token)) }

func (svc *Service) checkToken(token string) bool {
	h := tokenHash(token)
	return subtle.ConstantTimeCompare(h[:], svc.tokenHash[:]) == 1
}
