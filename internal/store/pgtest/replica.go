package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// StandbyName is the application_name of the standby of [StartReplicated],
// as the primary's synchronous_standby_names names it.
const StandbyName = "standby1"

// Replicated is a PostgreSQL primary with one synchronous streaming standby
// (a pg_basebackup -R copy of it), each in a temporary directory of its own.
type Replicated struct {
	Primary, Standby *Server
}

// StartReplicated starts a primary with synchronous_commit=on and
// synchronous_standby_names naming one standby, and that standby streaming
// from it; it returns once the primary reports the standby synchronous.
// Both are killed (by the pid in their data directory) when the test ends.
// It needs initdb, pg_ctl and pg_basebackup; without them the test is
// skipped, unless JWTLEDGER_REQUIRE_POSTGRES=1 or CI=true.
//
// The synchronous settings are given on the primary's command line, not in
// postgresql.conf, so the standby (whose postgresql.conf is a copy of the
// primary's) does not inherit them: promoted, it commits without waiting for
// a standby it does not have.
func StartReplicated(t testing.TB) *Replicated {
	t.Helper()
	bin := replicationBin(t)
	as := ""
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			t.Fatalf("running as root: initdb needs the unprivileged user postgres: %v", err)
		}
		as = "postgres"
	}
	newServer := func(role string) *Server {
		dir, err := os.MkdirTemp("", "jwtledger-pg-"+role+"-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		s := &Server{t: t, bin: bin, dir: dir, as: as, port: freePort(t)}
		if as != "" {
			s.run("chown", as, dir)
		}
		t.Cleanup(s.kill)
		return s
	}
	p := newServer("primary")
	p.pg(filepath.Join(bin, "initdb"), "-D", p.dir+"/data", "-A", "trust", "-U", "postgres")
	p.opts = fmt.Sprintf(" -c wal_level=replica -c max_wal_senders=4 -c synchronous_commit=on -c synchronous_standby_names=%s", StandbyName)
	p.Start()

	s := newServer("standby")
	s.pg(filepath.Join(bin, "pg_basebackup"), "-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", "postgres",
		"-D", s.dir+"/data", "-R", "-X", "stream", "-c", "fast")
	// -R wrote primary_conninfo and standby.signal; a later line of
	// postgresql.auto.conf wins, so this one names the standby.
	conninfo := fmt.Sprintf("primary_conninfo = 'host=127.0.0.1 port=%d user=postgres application_name=%s'\n", p.port, StandbyName)
	f, err := os.OpenFile(s.dir+"/data/postgresql.auto.conf", os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		_, err = f.WriteString(conninfo)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Start()

	deadline := time.Now().Add(30 * time.Second)
	for {
		state, err := syncState(p.URL())
		if err == nil && state == "sync" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby did not become synchronous within 30 s (last: %q, %v)", state, err)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
	return &Replicated{Primary: p, Standby: s}
}

// replicationBin is the directory of initdb, pg_ctl and pg_basebackup
// (symbolic links such as /usr/local/bin/pg_ctl are followed to it).
func replicationBin(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	cands := []string{"/usr/local/bin"}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		cands = append(cands, filepath.Dir(p))
	}
	for _, d := range append(cands, dirs...) {
		if r, err := filepath.EvalSymlinks(filepath.Join(d, "pg_ctl")); err == nil {
			d = filepath.Dir(r)
		}
		ok := true
		for _, name := range []string{"initdb", "pg_ctl", "pg_basebackup"} {
			if _, err := os.Stat(filepath.Join(d, name)); err != nil {
				ok = false
			}
		}
		if ok {
			return d
		}
	}
	if os.Getenv("JWTLEDGER_REQUIRE_POSTGRES") == "1" || os.Getenv("CI") == "true" {
		t.Fatal("PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found, and CI=true or JWTLEDGER_REQUIRE_POSTGRES=1 says this test must run")
	}
	t.Skip("PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found")
	return ""
}

// syncState is the standby's sync_state in the primary's pg_stat_replication.
func syncState(dsn string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var state string
	err = conn.QueryRow(ctx, "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1", StandbyName).Scan(&state)
	return state, err
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Promote promotes a standby to primary (pg_ctl promote, waiting until it
// accepts writes).
func (s *Server) Promote() {
	s.t.Helper()
	s.pg(filepath.Join(s.bin, "pg_ctl"), "-D", s.dir+"/data", "-w", "-t", "60", "promote")
}

// Kill kills the server's postmaster with SIGKILL (kill -9), as a crash of
// its machine would, and waits until no process of the server is left
// listening or holding its data directory.
func (s *Server) Kill() {
	s.t.Helper()
	pid := s.pid()
	if pid <= 0 {
		s.t.Fatal("kill: no postmaster.pid in " + s.dir)
	}
	children := s.children(pid) // before they are orphaned
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		s.t.Fatalf("kill -9 postmaster %d: %v", pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	// The postmaster's children exit when they notice it is gone; kill them
	// too so that nothing is left answering on the old connections.
	for _, c := range children {
		syscall.Kill(c, syscall.SIGKILL)
	}
}

// kill is the test's cleanup: stop the server at once (pg_ctl stop -m
// immediate), then SIGKILL its postmaster and children if any is left.
func (s *Server) kill() {
	if _, err := os.Stat(s.dir + "/data/postmaster.pid"); err != nil {
		return
	}
	s.pgTry(filepath.Join(s.bin, "pg_ctl"), "-D", s.dir+"/data", "-m", "immediate", "-w", "-t", "10", "stop")
	if pid := s.pid(); pid > 0 && syscall.Kill(pid, 0) == nil {
		children := s.children(pid)
		syscall.Kill(pid, syscall.SIGKILL)
		for _, c := range children {
			syscall.Kill(c, syscall.SIGKILL)
		}
	}
}

// pid is the postmaster's pid from its data directory (0 if none).
func (s *Server) pid() int {
	b, err := os.ReadFile(s.dir + "/data/postmaster.pid")
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// alive says whether process pid exists and is not a zombie (a killed
// postmaster is an orphan that init may reap late).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || !strings.HasPrefix(string(b)[i+1:], " Z")
}

// children are the processes whose parent is pid (the backends and
// auxiliary processes of a postmaster), found in /proc.
func (s *Server) children(pid int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b)[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			pids = append(pids, child)
		}
	}
	return pids
}
