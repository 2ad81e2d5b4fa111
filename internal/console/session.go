package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"time"
)

// Session lifetimes: a session ends 8 hours after sign-in, or after 30
// minutes without a request, whichever comes first.
const (
	SessionLifetime = 8 * time.Hour
	SessionIdle     = 30 * time.Minute
)

// maxSessions bounds the sessions held in memory; only a correct secret
// makes one, so reaching it means many sign-ins of real clients: the
// oldest are ended.
const maxSessions = 10000

// session is one signed-in browser. The cookie holds only its random id;
// the store keys sessions by the id's SHA-256, so neither the table nor a
// timing of its lookups reveals an id.
type session struct {
	clientID string
	csrf     string // the synchronizer token of every form of this session
	created  time.Time
	seen     time.Time
}

// sessions is the in-memory session table. A restart signs everyone out;
// on PostgreSQL every node has its own table (a session made on one node
// is unknown to the others: a load balancer in front of several nodes
// needs sticky sessions).
type sessions struct {
	mu  sync.Mutex
	all map[[32]byte]*session
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{all: map[[32]byte]*session{}, now: now}
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for clientID and returns its id.
func (s *sessions) create(clientID string) (id string, sess *session) {
	id = randomToken()
	now := s.now()
	sess = &session{clientID: clientID, csrf: randomToken(), created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	if len(s.all) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, v := range s.all {
			if at.IsZero() || v.created.Before(at) {
				oldest, at = k, v.created
			}
		}
		delete(s.all, oldest)
	}
	s.all[sha256.Sum256([]byte(id))] = sess
	return id, sess
}

// get returns the live session of id and marks it used, or nil (and
// forgets it) once it expired.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	k := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.all[k]
	if sess == nil {
		return nil
	}
	if expired(sess, now) {
		delete(s.all, k)
		return nil
	}
	sess.seen = now
	copied := *sess
	return &copied
}

func expired(sess *session, now time.Time) bool {
	return !now.Before(sess.created.Add(SessionLifetime)) || !now.Before(sess.seen.Add(SessionIdle))
}

// end forgets session id.
func (s *sessions) end(id string) {
	s.mu.Lock()
	delete(s.all, sha256.Sum256([]byte(id)))
	s.mu.Unlock()
}

// endClient forgets every session of a client (deleted, or its secret
// rotated through the console).
func (s *sessions) endClient(clientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.all {
		if v.clientID == clientID {
			delete(s.all, k)
		}
	}
}

// sweep drops expired sessions; s.mu is held.
func (s *sessions) sweep(now time.Time) {
	for k, v := range s.all {
		if expired(v, now) {
			delete(s.all, k)
		}
	}
}

// validToken compares a submitted token with the expected one in constant time.
func validToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// Sign-in failures allowed per source address before it must wait.
const (
	loginFailures = 10
	loginWindow   = 5 * time.Minute
	maxSources    = 10000
)

// limiter counts sign-in failures per source address in a fixed window
// (minimal on purpose: the ledger's own rate limiting of auth.denied is
// the general mechanism; this keeps guessing through the console slow).
type limiter struct {
	mu  sync.Mutex
	by  map[string]*failures
	now func() time.Time
}

type failures struct {
	n     int
	since time.Time
}

func newLimiter(now func() time.Time) *limiter { return &limiter{by: map[string]*failures{}, now: now} }

// source is the address a request comes from (without the port).
func source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// blocked reports whether src must wait, and how long.
func (l *limiter) blocked(src string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.by[src]
	now := l.now()
	if f == nil || !now.Before(f.since.Add(loginWindow)) {
		return false, 0
	}
	if f.n >= loginFailures {
		return true, f.since.Add(loginWindow).Sub(now)
	}
	return false, 0
}

func (l *limiter) fail(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.by[src]
	if f == nil || !now.Before(f.since.Add(loginWindow)) {
		if len(l.by) >= maxSources {
			for k, v := range l.by {
				if !now.Before(v.since.Add(loginWindow)) {
					delete(l.by, k)
				}
			}
			if len(l.by) >= maxSources {
				clear(l.by) // a flood from many addresses: start over
			}
		}
		f = &failures{since: now}
		l.by[src] = f
	}
	f.n++
}

func (l *limiter) succeed(src string) {
	l.mu.Lock()
	delete(l.by, src)
	l.mu.Unlock()
}
