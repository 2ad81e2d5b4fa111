package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// Server is a PostgreSQL server of the test's own (initdb and pg_ctl in a
// temporary directory), for tests that stop and start it.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	as   string // OS user running it ("" = this one)
	opts string // more server options (-c name=value ...)
}

// StartServer starts a throwaway PostgreSQL server, stopped when the test
// ends. It needs the server binaries (initdb, pg_ctl: /usr/local/bin or
// /usr/lib/postgresql/*/bin); as root it runs them as the user
// "postgres", which must exist (.ci/run makes it). Without them the test
// is skipped, unless JWTLEDGER_REQUIRE_POSTGRES=1.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin := ""
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for _, d := range append([]string{"/usr/local/bin"}, dirs...) {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				bin = d
				break
			}
		}
	}
	if bin == "" {
		if os.Getenv("JWTLEDGER_REQUIRE_POSTGRES") == "1" {
			t.Fatal("PostgreSQL server binaries (initdb, pg_ctl) not found but JWTLEDGER_REQUIRE_POSTGRES=1")
		}
		t.Skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
	}
	s := &Server{t: t, bin: bin}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			t.Fatalf("running as root: initdb needs the unprivileged user postgres: %v", err)
		}
		s.as = "postgres"
	}
	dir, err := os.MkdirTemp("", "jwtledger-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.dir = dir
	if s.as != "" {
		s.run("chown", "postgres", dir)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	s.pg(filepath.Join(bin, "initdb"), "-D", dir+"/data", "-A", "trust", "-U", "postgres")
	s.Start()
	t.Cleanup(func() { s.pgTry(filepath.Join(bin, "pg_ctl"), "-D", dir+"/data", "-m", "immediate", "-w", "stop") })
	return s
}

// URL is the DSN of the server's postgres database.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Start starts the server and waits until it accepts connections.
func (s *Server) Start() {
	s.pg(filepath.Join(s.bin, "pg_ctl"), "-D", s.dir+"/data", "-o",
		"-p "+strconv.Itoa(s.port)+" -k "+s.dir+" -c listen_addresses=127.0.0.1"+s.opts, "-l", s.dir+"/server.log", "-w", "start")
}

// Stop stops the server (fast shutdown: connections are closed).
func (s *Server) Stop() {
	s.pg(filepath.Join(s.bin, "pg_ctl"), "-D", s.dir+"/data", "-m", "fast", "-w", "stop")
}

func (s *Server) pg(name string, args ...string) {
	s.t.Helper()
	if out, err := s.command(name, args...).CombinedOutput(); err != nil {
		s.t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
}

func (s *Server) pgTry(name string, args ...string) { s.command(name, args...).Run() }

func (s *Server) command(name string, args ...string) *exec.Cmd {
	if s.as == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("runuser", append([]string{"-u", s.as, "--", name}, args...)...)
}

func (s *Server) run(name string, args ...string) {
	s.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		s.t.Fatalf("%s: %v\n%s", name, err, out)
	}
}
