//go:build cgo

package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store/sqlite"
)

// The members the queries filter on read the same from a packed body
// (jl_member, in C) as from a canonical one (json_extract): a row of each
// holds the same record.
func TestMembers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jwtledger.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	full := &audit.Record{Time: time.Unix(1764547200, 5), Event: audit.TokenVerify, Outcome: "expired", Reason: "token expired",
		Actor: "client-1", Remote: "127.0.0.1:5555", Sub: "ålice", Aud: []string{"api", "web"}, JTI: "j-1", KID: "k1", Alg: "ES256",
		Exp: time.Unix(1764550800, 0), TokenSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", RequestID: "req-7"}
	odd := &audit.Record{Time: time.Unix(1764547201, 0), Event: "custom.event", Outcome: "strange", Alg: "XS1", TokenSHA256: "not hex"}
	bare := &audit.Record{Time: time.Unix(1764547202, 0), Event: audit.KeyCreate, Outcome: audit.OK}
	if err := db.Append(ctx, "node-a", []*audit.Record{full, odd, bare}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// A canonical copy of each row, as a ledger of an earlier release holds.
	if _, err := raw.Exec("CREATE TABLE canon (seq INTEGER, body BLOB)"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*audit.Record{full, odd, bare} {
		if _, err := raw.Exec("INSERT INTO canon VALUES (?, ?)", r.Seq, audit.Encode(nil, r)); err != nil {
			t.Fatal(err)
		}
	}
	var packedRows int
	if err := raw.QueryRow("SELECT count(*) FROM audit WHERE substr(body, 1, 1) = X'01'").Scan(&packedRows); err != nil || packedRows != 3 {
		t.Fatalf("%d packed rows of 3, %v", packedRows, err)
	}
	for _, r := range []*audit.Record{full, odd, bare} {
		for _, c := range []struct {
			member string
			want   string
		}{
			{"chain", r.Chain}, {"event", string(r.Event)}, {"outcome", r.Outcome}, {"reason", r.Reason}, {"actor", r.Actor},
			{"remote", r.Remote}, {"sub", r.Sub}, {"jti", r.JTI}, {"kid", r.KID}, {"alg", r.Alg},
			{"token_sha256", r.TokenSHA256}, {"request_id", r.RequestID},
		} {
			for _, table := range []string{"audit", "canon"} {
				var got sql.NullString
				if err := raw.QueryRow("SELECT "+sqlite.Member(c.member)+" FROM "+table+" WHERE seq = ?", r.Seq).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got.String != c.want || got.Valid != (c.want != "") {
					t.Errorf("record %d, %s body: %s = %+v, want %q", r.Seq, table, c.member, got, c.want)
				}
			}
		}
	}
	// Damaged or foreign bodies read as no member, never a crash.
	for _, body := range [][]byte{{}, {0x01}, {0x01, 0xff}, {0x01, 0x00, 0x01, 0x40, 'a'}, []byte("not json"), {0x02, 1, 2}} {
		for m := range 12 {
			var got sql.NullString
			if err := raw.QueryRow("SELECT jl_member(?, ?)", body, m).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got.Valid {
				t.Errorf("jl_member(%x, %d) = %q", body, m, got.String)
			}
		}
	}
}
