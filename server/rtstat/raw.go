package rtstat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// ErrLineTooLong is returned by ReadLines for a line over the limit.
var ErrLineTooLong = errors.New("rtstat: line too long")

// Telnet bytes (RFC 854) we skip: clients negotiate options on connect.
const (
	iac  = 255
	sb   = 250
	se   = 240
	will = 251
	dont = 254
)

// telnetFilter strips telnet command sequences from a byte stream. It keeps
// state between calls, since a sequence may span two reads.
type telnetFilter struct {
	state byte // 0 data, 1 after IAC, 2 after WILL/WONT/DO/DONT, 3 in SB, 4 IAC in SB
}

func (f *telnetFilter) appendData(dst, src []byte) []byte {
	for _, c := range src {
		switch f.state {
		case 0:
			if c == iac {
				f.state = 1
				continue
			}
			dst = append(dst, c)
		case 1:
			switch {
			case c == iac: // escaped 255 is data
				dst = append(dst, c)
				f.state = 0
			case c >= will && c <= dont:
				f.state = 2
			case c == sb:
				f.state = 3
			default: // two-byte command (NOP, GA, AYT...)
				f.state = 0
			}
		case 2:
			f.state = 0
		case 3:
			if c == iac {
				f.state = 4
			}
		case 4:
			if c == se {
				f.state = 0
			} else {
				f.state = 3
			}
		}
	}
	return dst
}

// ReadLines reads LF- or CRLF-terminated lines from r, with telnet
// negotiation removed, and calls fn for each until fn returns false or r
// fails. A line longer than max is an ErrLineTooLong. Memory stays bounded
// by max whatever r sends.
func ReadLines(r io.Reader, max int, fn func(line []byte) bool) error {
	var (
		chunk [512]byte
		buf   []byte // the unfinished line
		f     telnetFilter
	)
	for {
		n, err := r.Read(chunk[:])
		if n > 0 {
			buf = f.appendData(buf, chunk[:n])
			for {
				i := bytes.IndexByte(buf, '\n')
				if i < 0 {
					break
				}
				line := buf[:i]
				line = bytes.TrimSuffix(line, []byte{'\r'})
				if i > max {
					return ErrLineTooLong
				}
				if !fn(line) {
					return nil
				}
				buf = buf[:copy(buf, buf[i+1:])]
			}
			if len(buf) > max {
				return ErrLineTooLong
			}
			if cap(buf) > 4096 && len(buf) < 512 {
				buf = append([]byte(nil), buf...) // let a past long line's buffer go
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				// A last command without a newline (nc -N, scripts) still counts.
				fn(bytes.TrimSuffix(buf, []byte{'\r'}))
			}
			return err
		}
	}
}

// rawIdle closes a raw client that is neither started nor typing: a
// forgotten telnet must not hold a client slot forever.
const rawIdle = 15 * time.Minute

// ServeRaw serves one raw TCP client until it quits or fails, or Shutdown
// ends it.
func (svc *Service) ServeRaw(nc net.Conn) {
	c := svc.newConn(nc, false)
	if !svc.admit(c) {
		c.send("Error", ErrTextTooManyClients)
		c.out.Flush(time.Second)
		return
	}
	defer svc.leave(c)
	defer c.out.Close()

	c.send("Welcome", svc.Welcome())
	_ = nc.SetReadDeadline(time.Now().Add(rawIdle))
	err := ReadLines(nc, MaxLine, func(line []byte) bool {
		if c.sess.handle(line) {
			return false
		}
		if c.sess.started {
			_ = nc.SetReadDeadline(time.Time{})
		} else {
			_ = nc.SetReadDeadline(time.Now().Add(rawIdle))
		}
		return true
	})
	switch {
	case errors.Is(err, ErrLineTooLong):
		c.send("Error", ErrTextLineTooLong)
		svc.log.Info("rtstat: raw client sent an over-long line", "remote", nc.RemoteAddr().String())
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed):
		svc.log.Debug("rtstat: raw client gone", "remote", nc.RemoteAddr().String(), "err", fmt.Sprint(err))
	}
	c.out.Flush(time.Second)
}
