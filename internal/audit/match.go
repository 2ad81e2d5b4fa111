package audit

// Match reports whether r passes f's record filters (time range, chain,
// event, outcome, sub, jti, actor, kid, request id); the cursors and the
// limit are not about one record and are ignored.
func (f *Filter) Match(r *Record) bool {
	switch {
	case !f.Since.IsZero() && r.Time.Before(f.Since),
		!f.Until.IsZero() && !r.Time.Before(f.Until),
		f.Chain != "" && r.Chain != f.Chain,
		f.Event != "" && r.Event != f.Event,
		f.Outcome != "" && r.Outcome != f.Outcome,
		f.Sub != "" && r.Sub != f.Sub,
		f.JTI != "" && r.JTI != f.JTI,
		f.Actor != "" && r.Actor != f.Actor,
		f.KID != "" && r.KID != f.KID,
		f.RequestID != "" && r.RequestID != f.RequestID:
		return false
	}
	return true
}
