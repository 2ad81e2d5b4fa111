package storetest

import (
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// PlanFilters are the filters whose query plans the backends check: each
// indexed member alone, the combinations the API offers, and with paging,
// time and chain bounds.
func PlanFilters() []audit.Filter {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var out []audit.Filter
	for _, f := range []audit.Filter{
		{Event: audit.TokenVerify}, {Outcome: "expired"}, {Event: audit.TokenVerify, Outcome: "expired"},
		{Sub: "alice"}, {JTI: "j1"}, {Actor: "client-1"}, {KID: "k1"}, {RequestID: "r1"},
		{Sub: "alice", Outcome: "expired"}, {Sub: "alice", Event: audit.TokenIssue}, {JTI: "j1", Event: audit.TokenVerify},
		{Actor: "client-1", Event: audit.TokenIssue, Outcome: audit.OK},
	} {
		out = append(out, f)
		g := f
		g.Newest, g.Limit = true, 50
		out = append(out, g)
		g = f
		g.After, g.Limit = 1000, 50
		out = append(out, g)
		g = f
		g.Since, g.Until, g.Chain, g.Before, g.Newest, g.Limit = at, at.Add(time.Hour), "n", 5000, true, 50
		out = append(out, g)
	}
	return out
}
