package keys

// Set is a fixed set of external keys to verify with.
type Set []*Key

// Candidates returns the keys that may have signed a token naming kid: those
// whose own kid matches, and those (from PEM or raw secrets) that carry no
// kid. A kid that two keys of the set carry matches neither.
func (s Set) Candidates(kid string) []*Key {
	var out []*Key
	named := 0
	for _, k := range s {
		if k.State == Retired {
			continue
		}
		if kid == "" || !k.NamedKID || k.KID == kid {
			out = append(out, k)
			if kid != "" && k.NamedKID {
				named++
			}
		}
	}
	if named > 1 {
		return nil // ambiguous: never a guess between two keys
	}
	return out
}
