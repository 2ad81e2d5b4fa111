package jwtledger

import "time"

// DenialLimit bounds the auth.denied records that callers without valid
// credentials (or with, but refused) can make the ledger write: a token
// bucket per source address and client id, and one for all of them.
// Denials beyond the buckets are still refused, but only counted; one
// auth.denied.suppressed record per SummaryEvery gives their number and
// the busiest sources. The zero value means the defaults.
type DenialLimit struct {
	// PerSource is the sustained rate (records per second) for one source
	// address and client id, Burst its bucket. Defaults 1 and 5.
	PerSource      float64
	PerSourceBurst int
	// Total is the sustained rate for all sources together, TotalBurst
	// its bucket. Defaults 5 and 20.
	Total      float64
	TotalBurst int
	// SummaryEvery is how often suppressed denials are summarized.
	// Default 10s.
	SummaryEvery time.Duration
	// Off records every denial (no limit).
	Off bool
}
