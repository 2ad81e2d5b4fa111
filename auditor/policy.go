package auditor

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// MaxPolicySize bounds the text of a policy, in bytes.
const MaxPolicySize = 1 << 20

// A Witness is a cosigner that a [Policy] trusts.
type Witness struct {
	// Name is the policy's name for the witness: it is how groups and the
	// quorum refer to it and how reports name it. It need not be the name
	// of its key.
	Name string
	// Verifier checks its cosignatures.
	Verifier *CosignatureVerifier
	// URL is its tlog-witness submission prefix (where add-checkpoint is
	// posted). Empty when the policy only verifies.
	URL string
}

// ParseWitness parses a witness given on a command line: NAME=VKEY, or
// NAME=VKEY@URL with the witness's http or https submission prefix.
func ParseWitness(s string) (Witness, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok {
		return Witness{}, malformed("witness %q is not NAME=VKEY or NAME=VKEY@URL", s)
	}
	vkey, u := rest, ""
	if i := strings.LastIndex(rest, "@"); i >= 0 && (strings.HasPrefix(rest[i+1:], "http://") || strings.HasPrefix(rest[i+1:], "https://")) {
		vkey, u = rest[:i], rest[i+1:]
	}
	w := Witness{Name: name}
	if err := checkName(name); err != nil {
		return Witness{}, err
	}
	var err error
	if w.Verifier, err = NewCosignatureVerifier(vkey); err != nil {
		return Witness{}, fmt.Errorf("witness %s: %w", name, err)
	}
	if u != "" {
		if w.URL, err = checkURL(u); err != nil {
			return Witness{}, fmt.Errorf("witness %s: %w", name, err)
		}
	}
	return w, nil
}

// A Policy says which witnesses an auditor trusts and how many of them
// must have cosigned a checkpoint for it to count as witnessed. It can also
// name the log keys that must have signed it. A Policy is immutable and
// safe for concurrent use.
type Policy struct {
	logs      []policyLog
	witnesses []Witness
	groups    []group
	quorum    threshold // the rule a checkpoint must meet
	quorumArg string    // how the quorum line said it
}

type policyLog struct {
	v    note.Verifier
	vkey string
	url  string
}

// A group is met when at least k of its members are: members are indexes
// into Policy.witnesses (>= 0) or, as ^i, into Policy.groups.
type group struct {
	name    string
	arg     string // the threshold as written: any, all or a number
	k       int
	members []int
}

// threshold is a group without a name: the quorum. k < 0 means none.
type threshold = group

// NewPolicy returns a policy of the witnesses, of which quorum must have
// cosigned a checkpoint; 0 means all of them.
func NewPolicy(witnesses []Witness, quorum int) (*Policy, error) {
	if len(witnesses) == 0 {
		return nil, malformed("policy names no witness")
	}
	if quorum < 0 || quorum > len(witnesses) {
		return nil, malformed("quorum %d is not between 1 and the %d witnesses", quorum, len(witnesses))
	}
	b := newPolicyBuilder()
	for _, w := range witnesses {
		if w.Verifier == nil {
			return nil, malformed("witness %q has no key", w.Name)
		}
		if w.URL != "" {
			if _, err := checkURL(w.URL); err != nil {
				return nil, fmt.Errorf("witness %s: %w", w.Name, err)
			}
		}
		if err := b.addWitness(w); err != nil {
			return nil, err
		}
	}
	arg := "all"
	if quorum != 0 && quorum != len(witnesses) {
		arg = strconv.Itoa(quorum)
	}
	if err := b.setQuorum(arg); err != nil {
		return nil, err
	}
	return b.p, nil
}

// ParsePolicy parses a policy in the text format of the Sigsum and
// torchwood policies, with vkeys (as torchwood): one item a line, "#"
// starting a comment, names defined before they are used.
//
//	log VKEY [URL]                 a log key that must have signed (any one of them)
//	witness NAME VKEY [URL]        a witness and its cosignature/v1 key
//	group NAME any|all|K MEMBER... met when K of the members (witnesses or groups) are
//	quorum NAME|none|all|any|K     the rule a checkpoint must meet
//
// A missing quorum line means all witnesses; "quorum K", "quorum all" and
// "quorum any" count over all the witnesses (these three forms are this
// package's; the others are Sigsum's). Names are unique, and "none", "all",
// "any" and numbers are not names.
func ParsePolicy(text []byte) (*Policy, error) {
	if len(text) > MaxPolicySize {
		return nil, malformed("policy larger than %d bytes", MaxPolicySize)
	}
	b := newPolicyBuilder()
	quorumSet := false
	for i, line := range strings.Split(string(text), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var err error
		switch f[0] {
		case "log":
			if len(f) < 2 || len(f) > 3 {
				err = malformed("want: log VKEY [URL]")
				break
			}
			err = b.addLog(f[1], at(f, 2))
		case "witness":
			if len(f) < 3 || len(f) > 4 {
				err = malformed("want: witness NAME VKEY [URL]")
				break
			}
			var w Witness
			w, err = parseWitnessFields(f[1], f[2], at(f, 3))
			if err == nil {
				err = b.addWitness(w)
			}
		case "group":
			if len(f) < 4 {
				err = malformed("want: group NAME any|all|K MEMBER...")
				break
			}
			err = b.addGroup(f[1], f[2], f[3:])
		case "quorum":
			switch {
			case len(f) != 2:
				err = malformed("want: quorum NAME|none|all|any|K")
			case quorumSet:
				err = malformed("a second quorum line")
			default:
				quorumSet = true
				err = b.setQuorum(f[1])
			}
		default:
			err = malformed("unknown keyword %q", f[0])
		}
		if err != nil {
			return nil, fmt.Errorf("policy line %d: %w", i+1, err)
		}
	}
	if !quorumSet {
		if len(b.p.witnesses) == 0 {
			return nil, malformed("policy names no witness and no quorum (say \"quorum none\" to require no cosignature)")
		}
		if err := b.setQuorum("all"); err != nil {
			return nil, err
		}
	}
	return b.p, nil
}

func at(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

func parseWitnessFields(name, vkey, u string) (Witness, error) {
	if err := checkName(name); err != nil {
		return Witness{}, err
	}
	v, err := NewCosignatureVerifier(vkey)
	if err != nil {
		return Witness{}, fmt.Errorf("witness %s: %w", name, err)
	}
	w := Witness{Name: name, Verifier: v}
	if u != "" {
		if w.URL, err = checkURL(u); err != nil {
			return Witness{}, fmt.Errorf("witness %s: %w", name, err)
		}
	}
	return w, nil
}

type policyBuilder struct {
	p     *Policy
	names map[string]int // witness index, or ^group index
	keys  map[string]bool
}

func newPolicyBuilder() *policyBuilder {
	return &policyBuilder{p: &Policy{}, names: map[string]int{}, keys: map[string]bool{}}
}

func (b *policyBuilder) addLog(vkey, u string) error {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return malformed("log key: %v", err)
	}
	if b.keys[vkey] {
		return malformed("log key %s is listed twice", v.Name())
	}
	b.keys[vkey] = true
	if u != "" {
		if u, err = checkURL(u); err != nil {
			return fmt.Errorf("log %s: %w", v.Name(), err)
		}
	}
	b.p.logs = append(b.p.logs, policyLog{v: v, vkey: vkey, url: u})
	return nil
}

func (b *policyBuilder) addWitness(w Witness) error {
	if err := checkName(w.Name); err != nil {
		return err
	}
	if _, dup := b.names[w.Name]; dup {
		return malformed("name %q is defined twice", w.Name)
	}
	vkey := w.Verifier.String()
	if b.keys[vkey] {
		return malformed("witness %s has the key of another entry", w.Name)
	}
	b.keys[vkey] = true
	b.names[w.Name] = len(b.p.witnesses)
	b.p.witnesses = append(b.p.witnesses, w)
	return nil
}

func (b *policyBuilder) addGroup(name, arg string, members []string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if _, dup := b.names[name]; dup {
		return malformed("name %q is defined twice", name)
	}
	g := group{name: name, arg: arg}
	seen := map[int]bool{}
	for _, m := range members {
		i, ok := b.names[m]
		if !ok {
			return malformed("group %s: %q is not defined on an earlier line", name, m)
		}
		if seen[i] {
			return malformed("group %s: %q is listed twice", name, m)
		}
		seen[i] = true
		g.members = append(g.members, i)
	}
	k, err := parseThreshold(arg, len(members))
	if err != nil {
		return fmt.Errorf("group %s: %w", name, err)
	}
	g.k = k
	b.names[name] = ^len(b.p.groups)
	b.p.groups = append(b.p.groups, g)
	return nil
}

func (b *policyBuilder) setQuorum(arg string) error {
	q := threshold{arg: arg}
	switch {
	case arg == "none":
		q.k = -1
	case arg == "all" || arg == "any" || isNumber(arg):
		if len(b.p.witnesses) == 0 {
			return malformed("quorum %s: the policy names no witness", arg)
		}
		for i := range b.p.witnesses {
			q.members = append(q.members, i)
		}
		k, err := parseThreshold(arg, len(q.members))
		if err != nil {
			return fmt.Errorf("quorum: %w", err)
		}
		q.k = k
	default:
		i, ok := b.names[arg]
		if !ok {
			return malformed("quorum %q is not defined on an earlier line", arg)
		}
		q.k, q.members = 1, []int{i}
	}
	b.p.quorum, b.p.quorumArg = q, arg
	return nil
}

func parseThreshold(arg string, n int) (int, error) {
	switch arg {
	case "any":
		return 1, nil
	case "all":
		return n, nil
	}
	k, err := strconv.Atoi(arg)
	if err != nil || !isNumber(arg) || k < 1 || k > n {
		return 0, malformed("threshold %q is not any, all or a number from 1 to %d", arg, n)
	}
	return k, nil
}

// isNumber reports whether s is a decimal without sign or leading zeros.
func isNumber(s string) bool {
	if s == "" || len(s) > 9 || s[0] == '0' {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkName checks a policy name: a word that is not reserved.
func checkName(name string) error {
	if !validName(name) || strings.Contains(name, "#") || strings.Contains(name, "=") {
		return malformed("name %q is empty or has spaces, '+', '#' or '='", name)
	}
	if name == "none" || name == "all" || name == "any" || strings.Trim(name, "0123456789") == "" {
		return malformed("%q is reserved and cannot name a witness or group", name)
	}
	return nil
}

func checkURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		strings.ContainsAny(s, " \t#") {
		return "", malformed("URL %q is not an http or https URL without credentials, query or fragment", s)
	}
	return s, nil
}

// Witnesses returns the policy's witnesses, in the order they were given.
func (p *Policy) Witnesses() []Witness { return append([]Witness(nil), p.witnesses...) }

// Logs returns the log keys the policy requires a signature from (one of
// them); none when it checks cosignatures only.
func (p *Policy) Logs() []note.Verifier {
	out := make([]note.Verifier, len(p.logs))
	for i, l := range p.logs {
		out[i] = l.v
	}
	return out
}

// Quorum returns the policy's quorum as its quorum line says it: "all",
// "any", a number, or a group's name.
func (p *Policy) Quorum() string { return p.quorumArg }

// Satisfied reports whether cosignatures from the witnesses named (by
// their policy names) meet the quorum.
func (p *Policy) Satisfied(names []string) bool {
	have := make([]bool, len(p.witnesses))
	for _, n := range names {
		for i, w := range p.witnesses {
			if w.Name == n {
				have[i] = true
			}
		}
	}
	return p.met(have)
}

func (p *Policy) met(have []bool) bool {
	if p.quorum.k < 0 {
		return true
	}
	groups := make([]bool, len(p.groups)) // groups refer only to earlier ones
	for i, g := range p.groups {
		groups[i] = countMet(g, have, groups) >= g.k
	}
	return countMet(p.quorum, have, groups) >= p.quorum.k
}

func countMet(g group, have, groups []bool) int {
	n := 0
	for _, m := range g.members {
		if m >= 0 && have[m] || m < 0 && groups[^m] {
			n++
		}
	}
	return n
}

// String returns the policy in the text format [ParsePolicy] reads.
func (p *Policy) String() string {
	var b strings.Builder
	for _, l := range p.logs {
		b.WriteString("log " + l.vkey)
		if l.url != "" {
			b.WriteString(" " + l.url)
		}
		b.WriteString("\n")
	}
	for _, w := range p.witnesses {
		b.WriteString("witness " + w.Name + " " + w.Verifier.String())
		if w.URL != "" {
			b.WriteString(" " + w.URL)
		}
		b.WriteString("\n")
	}
	for _, g := range p.groups {
		b.WriteString("group " + g.name + " " + g.arg)
		for _, m := range g.members {
			b.WriteString(" " + p.memberName(m))
		}
		b.WriteString("\n")
	}
	b.WriteString("quorum " + p.quorumArg + "\n")
	return b.String()
}

func (p *Policy) memberName(m int) string {
	if m >= 0 {
		return p.witnesses[m].Name
	}
	return p.groups[^m].name
}

// A Cosignature is a verified cosignature of a policy witness.
type Cosignature struct {
	Witness   string         // the witness's policy name
	Time      time.Time      // when the witness cosigned, to the second
	Signature note.Signature // the signature line, see [FormatSignature]
}

// A Report is what a [Policy] found in a signed checkpoint.
type Report struct {
	Checkpoint Checkpoint

	// LogKey is the name of the policy's log key whose signature verified,
	// empty when the policy names no log key.
	LogKey string

	// Cosignatures are the valid cosignatures of policy witnesses, in the
	// policy's order.
	Cosignatures []Cosignature

	// Missing names the policy witnesses that have no cosignature line.
	Missing []string

	// Invalid names the policy witnesses with a cosignature line (their key
	// name and key hash) that does not verify: the note was altered, or
	// the line was made for another checkpoint.
	Invalid []string

	// Witnessed reports whether the checkpoint is witnessed under the
	// policy: the cosignatures meet the quorum, and none is invalid.
	Witnessed bool
}

// Cosigned returns the policy names of the witnesses that validly cosigned.
func (r *Report) Cosigned() []string {
	out := make([]string, len(r.Cosignatures))
	for i, c := range r.Cosignatures {
		out[i] = c.Witness
	}
	return out
}

// ErrLogSignature is returned by [Policy.Verify] when the policy names log
// keys and none of them signed the checkpoint, or a signature of one of
// them does not verify.
var ErrLogSignature = errors.New("checkpoint is not signed by a log key of the policy")

// An UnwitnessedError is returned by [Policy.Verify] for a checkpoint that
// is not witnessed under the policy. Its report says which witnesses
// cosigned, which did not, and which cosignatures are invalid.
type UnwitnessedError struct {
	Report *Report
	Quorum string // the quorum, as the policy's quorum line says it
}

func (e *UnwitnessedError) Error() string {
	r := e.Report
	msg := fmt.Sprintf("checkpoint %s at size %d is not witnessed (quorum %s): cosigned by %s",
		r.Checkpoint.Origin, r.Checkpoint.Size, e.Quorum, list(r.Cosigned()))
	if len(r.Missing) > 0 {
		msg += "; no cosignature from " + list(r.Missing)
	}
	if len(r.Invalid) > 0 {
		msg += "; invalid cosignature from " + list(r.Invalid)
	}
	return msg
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Verify checks a signed checkpoint note against the policy: the log
// signature when the policy names log keys, then each witness's
// cosignature. Signature lines of keys the policy does not name are
// ignored. It returns the report and nil when the checkpoint is witnessed;
// the report and an [*UnwitnessedError] when it is not; no report and an
// error wrapping [ErrMalformed] or [ErrLogSignature] when the note is not
// a signed checkpoint of a policy log.
func (p *Policy) Verify(signedNote []byte) (*Report, error) {
	text, sigs, err := SplitNote(signedNote)
	if err != nil {
		return nil, err
	}
	cp, err := ParseCheckpoint(text)
	if err != nil {
		return nil, err
	}
	r := &Report{Checkpoint: cp}
	if len(p.logs) > 0 {
		if r.LogKey, err = p.verifyLog(text, sigs); err != nil {
			return nil, err
		}
	}
	have := make([]bool, len(p.witnesses))
	for i, w := range p.witnesses {
		var good *Cosignature
		bad := false
		for _, s := range sigs {
			if s.Name != w.Verifier.Name() || s.Hash != w.Verifier.KeyHash() {
				continue
			}
			t, err := CosignatureTime(s)
			if err != nil || !w.Verifier.Verify([]byte(text), sigBytes(s)) {
				bad = true
				continue
			}
			good = &Cosignature{Witness: w.Name, Time: t, Signature: s}
		}
		switch {
		case bad:
			r.Invalid = append(r.Invalid, w.Name)
		case good != nil:
			r.Cosignatures = append(r.Cosignatures, *good)
			have[i] = true
		default:
			r.Missing = append(r.Missing, w.Name)
		}
	}
	r.Witnessed = len(r.Invalid) == 0 && p.met(have)
	if !r.Witnessed {
		return r, &UnwitnessedError{Report: r, Quorum: p.quorumArg}
	}
	return r, nil
}

func (p *Policy) verifyLog(text string, sigs []note.Signature) (string, error) {
	signer := ""
	for _, s := range sigs {
		for _, l := range p.logs {
			if s.Name != l.v.Name() || s.Hash != l.v.KeyHash() {
				continue
			}
			if !l.v.Verify([]byte(text), sigBytes(s)) {
				return "", fmt.Errorf("signature of log key %s does not verify: %w", s.Name, ErrLogSignature)
			}
			signer = s.Name
		}
	}
	if signer == "" {
		return "", ErrLogSignature
	}
	return signer, nil
}

// sigBytes returns the signature after the key hash; the line was parsed by
// ParseSignatureLines, so it decodes to at least 5 bytes.
func sigBytes(s note.Signature) []byte {
	raw, _ := base64.StdEncoding.DecodeString(s.Base64)
	return raw[4:]
}
