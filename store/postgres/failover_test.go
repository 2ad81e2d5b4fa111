package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/store/postgres"
)

// The watcher (LISTEN/NOTIFY) follows a failover: through the multi-host
// DSN it reconnects to the promoted standby and resyncs every topic, and
// after a long outage a later disconnection is retried promptly again (the
// backoff starts over once a connection succeeded).
func TestWatchFollowsFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers")
	}
	rep := pgtest.StartReplicated(t)
	dsn := fmt.Sprintf("postgres://postgres@%s,%s/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=2",
		rep.Primary.Addr(), rep.Standby.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	topics := make(chan string, 100)
	done := make(chan struct{})
	go func() { defer close(done); db.Watch(ctx, func(topic string) { topics <- topic }) }()
	defer func() { cancel(); <-done }()

	// resync waits for the report of every topic that (re)connecting makes.
	resync := func(what string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		seen := map[string]bool{}
		timeout := time.After(within)
		for len(seen) < 3 {
			select {
			case tp := <-topics:
				seen[tp] = true
			case <-timeout:
				t.Fatalf("%s: the watcher did not resync within %v (saw %v)", what, within, seen)
			}
		}
		return time.Since(start)
	}
	resync("start", 10*time.Second)

	rep.Primary.Kill()
	// Outage: no writable server for 3 s, while the watcher retries.
	<-time.After(3 * time.Second)
	for len(topics) > 0 {
		t.Fatalf("the watcher reported %q with no writable server", <-topics)
	}
	rep.Standby.Promote()
	d := resync("after the promotion", 10*time.Second)
	t.Logf("watcher resynced %v after pg_ctl promote returned", d.Round(time.Millisecond))

	// A notification on the new primary reaches it.
	promoted := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", rep.Standby.Addr())
	pgtest.Exec(t, promoted, "SELECT pg_notify($1, '')", store.TopicKeys)
	select {
	case tp := <-topics:
		if tp != store.TopicKeys {
			t.Fatalf("notified %q, watcher reported %q", store.TopicKeys, tp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a NOTIFY on the promoted standby did not reach the watcher")
	}

	// Its connection cut by the server: it is back within a second, not
	// after the backoff the outage had grown to.
	conn, err := pgx.Connect(ctx, promoted)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminate the watcher's connection: %d terminated, %v", n, err)
	}
	d = resync("after its connection was terminated", time.Second)
	t.Logf("watcher resynced %v after its connection was terminated", d.Round(time.Millisecond))
}
