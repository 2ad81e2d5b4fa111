package audit

import "time"

// CountQuery asks for the aggregate counts of audit records in a window:
// what an overview of the ledger shows without reading records. Stores keep
// these counts in tables (per minute × chain × event × outcome, per hour ×
// chain × event × outcome × actor, and per hour × chain × subject for
// token.issue and token.verify) kept close behind the commits, so answering
// costs what the window holds in buckets, not in records.
type CountQuery struct {
	// Since and Until bound the window (time >= Since, time < Until); they
	// are widened to whole buckets of Step. Zero Until means no bound.
	Since, Until time.Time
	// Step is the width of the buckets of Series: time.Minute or time.Hour.
	Step time.Duration
	// Top is how many actors and subjects to rank (default 10). They are
	// counted over whole hours covering the window.
	Top int
}

// Count is how many records of one chain, event and outcome fall in the
// bucket starting at Bucket.
type Count struct {
	Bucket  time.Time
	Chain   string
	Event   Event
	Outcome string
	N       int64
}

// Ranked is a name (an actor or a subject) with its number of records.
type Ranked struct {
	Name string
	N    int64
}

// Counts is the answer to a [CountQuery].
type Counts struct {
	// Series has one entry per bucket, chain, event and outcome with
	// records, ordered by bucket.
	Series []Count
	// Actors ranks the actors (client ids, local users) by records, most
	// first; Subjects the subjects of token.issue and token.verify records.
	Actors, Subjects []Ranked
	// Pending is how many stored records are not counted yet (the counts
	// run behind the commits; 0 once they caught up).
	Pending int64
}

// Steps of [CountQuery] the stores keep.
const (
	StepMinute = time.Minute
	StepHour   = time.Hour
)
