package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/jwtledger/jwtledger/internal/api"
	"github.com/jwtledger/jwtledger/internal/client"
	"github.com/jwtledger/jwtledger/trail"
)

// fakeAudit serves GET /v1/audit from n records in pages of at most the
// limit asked for, as the server does, and counts the requests.
func fakeAudit(t *testing.T, n int, requests *int) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*requests++
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_token","error_description":"no"}`)
			return
		}
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		after, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		var page api.AuditPage
		for id := after + 1; id <= n && len(page.Records) < limit; id++ {
			page.Records = append(page.Records, &trail.Record{ID: int64(id), Seq: uint64(id), Event: "token.issue", Outcome: "ok"})
		}
		if len(page.Records) == limit {
			page.NextCursor = strconv.FormatInt(page.Records[len(page.Records)-1].ID, 10)
		}
		fmt.Fprintf(w, `{"next_cursor":%q,"records":[`, page.NextCursor)
		for i, rec := range page.Records {
			j, _ := rec.MarshalJSON()
			if i > 0 {
				fmt.Fprint(w, ",")
			}
			w.Write(j)
		}
		fmt.Fprint(w, "]}")
	}))
}

func TestAuditPages(t *testing.T) {
	for _, tt := range []struct {
		name          string
		records       int
		limit         int
		want, answers int
	}{
		{"one short page", 10, 0, 10, 1},
		{"three pages", 2500, 0, 2500, 3},
		{"a full last page", 2000, 0, 2000, 3},
		{"limit within a page", 2500, 5, 5, 1},
		{"limit across pages", 2500, 1500, 1500, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var requests int
			srv := fakeAudit(t, tt.records, &requests)
			defer srv.Close()
			cl, err := client.New(srv.URL+"/", "", "s3cret", nil)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := cl.Audit(context.Background(), trail.Filter{Limit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tt.want || requests != tt.answers {
				t.Fatalf("%d records in %d requests, want %d in %d", len(recs), requests, tt.want, tt.answers)
			}
			for i, r := range recs {
				if r.Seq != uint64(i+1) {
					t.Fatalf("record %d has seq %d", i, r.Seq)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	var requests int
	srv := fakeAudit(t, 1, &requests)
	defer srv.Close()
	for _, tt := range []struct {
		name, url, secret string
		newErr            error
	}{
		{"no URL", "", "s", client.ErrURL},
		{"not http", "ftp://x", "s", client.ErrURL},
		{"no secret", srv.URL, "", client.ErrSecret},
	} {
		if _, err := client.New(tt.url, "", tt.secret, nil); !errors.Is(err, tt.newErr) {
			t.Errorf("%s: New: %v, want %v", tt.name, err, tt.newErr)
		}
	}
	cl, _ := client.New(srv.URL, "", "wrong", nil)
	_, err := cl.Audit(context.Background(), trail.Filter{})
	var se *client.Error
	if !errors.As(err, &se) || se.Status != 401 || se.Body.Error != "invalid_token" || err.Error() != "server: invalid_token: no" {
		t.Errorf("wrong secret: %v", err)
	}
	srv.Close()
	_, err = cl.Issue(context.Background(), api.IssueRequest{Sub: "x"})
	var ue *client.UnavailableError
	if !errors.As(err, &ue) {
		t.Errorf("closed server: %v, want an UnavailableError", err)
	}
}
