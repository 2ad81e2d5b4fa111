package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxConns is the default cap on open connections of serve: about
// 20 KiB of memory each while idle, so the cap bounds that to ~80 MiB.
const DefaultMaxConns = 4096

// overloaded is the whole answer to a connection beyond the cap.
const overloaded = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 94\r\n\r\n" +
	`{"error":"temporarily_unavailable","error_description":"too many connections; try again"}` + "\n"

// LimitListener caps the connections open at once at max: a connection
// beyond it is answered 503 at once (without reading its request) and
// closed, so a flood of connections costs neither memory nor a handler.
// The server's /metrics counts the rejected connections
// (jwtledger_http_connections_rejected_total) and the open ones of every
// listener it made.
func (s *Server) LimitListener(ln net.Listener, max int) *Limited {
	l := &Limited{Listener: ln, max: int64(max)}
	s.lnMu.Lock()
	s.limited = append(s.limited, l)
	s.lnMu.Unlock()
	return l
}

// connections sums the open and rejected connections of the server's
// limited listeners.
func (s *Server) connections() (open int64, rejected uint64) {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	for _, l := range s.limited {
		open += l.Open()
		rejected += l.Rejected()
	}
	return open, rejected
}

// Limited is a listener with a connection cap (see [Server.LimitListener]).
type Limited struct {
	net.Listener
	max      int64
	open     atomic.Int64
	rejected atomic.Uint64
}

// Open is the number of connections open now.
func (l *Limited) Open() int64 { return l.open.Load() }

// Rejected is the number of connections refused for the cap.
func (l *Limited) Rejected() uint64 { return l.rejected.Load() }

// Accept returns the next connection within the cap.
func (l *Limited) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.rejected.Add(1)
			go func() {
				c.SetWriteDeadline(time.Now().Add(time.Second))
				c.Write([]byte(overloaded))
				c.Close()
			}()
			continue
		}
		return &limitedConn{Conn: c, l: l}, nil
	}
}

type limitedConn struct {
	net.Conn
	l    *Limited
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}
