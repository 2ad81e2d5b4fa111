package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtledger/jwtledger/store"
)

var _ store.Watcher = (*DB)(nil)

// notify makes every node's Watch report topic once tx commits.
func notify(ctx context.Context, tx pgx.Tx, topic string) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, '')", topic)
	return err
}

// Watch listens (LISTEN/NOTIFY, on a connection of its own) for changes
// other nodes make to revocations, keys and clients, reconnecting with
// backoff; on every (re)connection it reports every topic, so a node resyncs whatever
// it missed while disconnected. The backoff starts over once a connection
// listened, so a disconnection after an outage (a failover to a standby, a
// restart) is retried at once, not at the outage's grown backoff.
func (db *DB) Watch(ctx context.Context, changed func(topic string)) {
	const first = 100 * time.Millisecond
	backoff := first
	for ctx.Err() == nil {
		listened, err := db.listen(ctx, changed)
		if err == nil || ctx.Err() != nil {
			return
		}
		if listened {
			backoff = first
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen listens until its connection fails; listened says whether it got
// as far as listening on every topic.
func (db *DB) listen(ctx context.Context, changed func(topic string)) (listened bool, err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	// The connection is left in LISTEN state: take it out of the pool.
	c := conn.Hijack()
	defer c.Close(context.Background())
	for _, t := range []string{store.TopicRevocations, store.TopicKeys, store.TopicClients} {
		if _, err := c.Exec(ctx, "LISTEN "+t); err != nil {
			return false, err
		}
		changed(t)
	}
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		changed(n.Channel)
	}
}
