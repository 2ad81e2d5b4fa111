package auditor_test

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/jwtledger/jwtledger/auditor"
)

func TestParsePolicy(t *testing.T) {
	a, b, c := newTestWitness(t, "a.example/w"), newTestWitness(t, "b.example/w"), newTestWitness(t, "c.example/w")
	log := newTestLog(t, "jwtledger-audit-0a0b0c0d")
	ws := "witness A " + a.vkey + "\nwitness B " + b.vkey + " https://b.example/w/\nwitness C " + c.vkey + "\n"
	tests := []struct {
		name string
		text string
		want string // String() of the result; empty for an error
	}{
		{name: "no quorum line means all", text: ws, want: ws + "quorum all\n"},
		{name: "quorum K of all", text: ws + "quorum 2\n", want: ws + "quorum 2\n"},
		{name: "quorum any", text: ws + "quorum any", want: ws + "quorum any\n"},
		{name: "quorum none", text: "quorum none\n", want: "quorum none\n"},
		{name: "log lines and comments", text: "# a policy\nlog " + log.vkey + " https://ledger.example/\n\n  " + ws + "quorum A # only A\n",
			want: "log " + log.vkey + " https://ledger.example/\n" + ws + "quorum A\n"},
		{name: "nested groups", text: ws + "group AB any A B\ngroup all-of all AB C\nquorum all-of\n", want: ws + "group AB any A B\ngroup all-of all AB C\nquorum all-of\n"},
		{name: "group threshold number", text: ws + "group g 2 A B C\nquorum g\n", want: ws + "group g 2 A B C\nquorum g\n"},
		{name: "CRLF line ends", text: strings.ReplaceAll(ws, "\n", "\r\n"), want: ws + "quorum all\n"},
		{name: "empty", text: ""},
		{name: "only comments", text: "# nothing\n"},
		{name: "unknown keyword", text: ws + "witnesses X " + a.vkey + "\n"},
		{name: "duplicate name", text: ws + "witness A " + newTestWitness(t, "d").vkey + "\n"},
		{name: "duplicate key", text: ws + "witness D " + a.vkey + "\n"},
		{name: "log key as witness key", text: "witness L " + log.vkey + "\n"},
		{name: "witness key as log key", text: "log " + a.vkey + "\nquorum none\n"},
		{name: "reserved name", text: "witness all " + a.vkey + "\n"},
		{name: "number as name", text: "witness 7 " + a.vkey + "\n"},
		{name: "quorum too large", text: ws + "quorum 4\n"},
		{name: "quorum zero", text: ws + "quorum 0\n"},
		{name: "quorum leading zero", text: ws + "quorum 02\n"},
		{name: "two quorum lines", text: ws + "quorum 1\nquorum 2\n"},
		{name: "quorum of unknown name", text: ws + "quorum D\n"},
		{name: "quorum before its name", text: "quorum A\n" + ws},
		{name: "group of unknown member", text: ws + "group g any A D\n"},
		{name: "group member twice", text: ws + "group g any A A\n"},
		{name: "group threshold too large", text: ws + "group g 3 A B\n"},
		{name: "group without members", text: ws + "group g any\n"},
		{name: "witness without key", text: "witness A\n"},
		{name: "witness with two URLs", text: "witness A " + a.vkey + " https://a/ https://b/\n"},
		{name: "witness URL not http", text: "witness A " + a.vkey + " ftp://a.example/\n"},
		{name: "witness URL with credentials", text: "witness A " + a.vkey + " https://u:p@a.example/\n"},
		{name: "quorum K with no witness", text: "quorum 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := auditor.ParsePolicy([]byte(tt.text))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParsePolicy(%q) = %q, want an error", tt.text, p)
				}
				if !errors.Is(err, auditor.ErrMalformed) {
					t.Errorf("error %v does not wrap ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePolicy(%q): %v", tt.text, err)
			}
			if got := p.String(); got != tt.want {
				t.Errorf("ParsePolicy(%q).String()\n got: %q\nwant: %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestParseWitness(t *testing.T) {
	a := newTestWitness(t, "a@example/w") // an '@' in the key name is allowed
	tests := []struct {
		in      string
		name    string
		url     string
		wantErr bool
	}{
		{in: "alpha=" + a.vkey, name: "alpha"},
		{in: "alpha=" + a.vkey + "@https://witness.example/alpha", name: "alpha", url: "https://witness.example/alpha"},
		{in: "alpha=" + a.vkey + "@http://127.0.0.1:7380/", name: "alpha", url: "http://127.0.0.1:7380/"},
		{in: a.vkey, wantErr: true},
		{in: "=" + a.vkey, wantErr: true},
		{in: "all=" + a.vkey, wantErr: true},
		{in: "alpha=" + a.vkey + "@https://", wantErr: true},
		{in: "alpha=" + a.vkey + "@gopher://x", wantErr: true},
		{in: "alpha=nokey", wantErr: true},
	}
	for _, tt := range tests {
		w, err := auditor.ParseWitness(tt.in)
		if tt.wantErr {
			if err == nil || !errors.Is(err, auditor.ErrMalformed) {
				t.Errorf("ParseWitness(%q) = %+v, %v; want ErrMalformed", tt.in, w, err)
			}
			continue
		}
		if err != nil || w.Name != tt.name || w.URL != tt.url || w.Verifier.String() != a.vkey {
			t.Errorf("ParseWitness(%q) = %+v, %v; want name %q url %q", tt.in, w, err, tt.name, tt.url)
		}
	}
}

func TestNewPolicy(t *testing.T) {
	a, b := newTestWitness(t, "a.example/w"), newTestWitness(t, "b.example/w")
	ws := []auditor.Witness{{Name: "A", Verifier: a.verifier(t)}, {Name: "B", Verifier: b.verifier(t), URL: "https://b.example/"}}
	for _, tt := range []struct {
		quorum int
		want   string
	}{
		{0, "all"}, {2, "all"}, {1, "1"}, {3, ""}, {-1, ""},
	} {
		p, err := auditor.NewPolicy(ws, tt.quorum)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NewPolicy(quorum %d) = %q, want an error", tt.quorum, p)
			}
			continue
		}
		want := "witness A " + a.vkey + "\nwitness B " + b.vkey + " https://b.example/\nquorum " + tt.want + "\n"
		if err != nil || p.String() != want {
			t.Errorf("NewPolicy(quorum %d) = %q, %v; want %q", tt.quorum, p, err, want)
		}
	}
	for name, ws := range map[string][]auditor.Witness{
		"none":          nil,
		"no key":        {{Name: "A"}},
		"same name":     {{Name: "A", Verifier: a.verifier(t)}, {Name: "A", Verifier: b.verifier(t)}},
		"same key":      {{Name: "A", Verifier: a.verifier(t)}, {Name: "B", Verifier: a.verifier(t)}},
		"bad URL":       {{Name: "A", Verifier: a.verifier(t), URL: "a.example"}},
		"reserved name": {{Name: "none", Verifier: a.verifier(t)}},
	} {
		if p, err := auditor.NewPolicy(ws, 0); err == nil {
			t.Errorf("NewPolicy(%s) = %q, want an error", name, p)
		}
	}
}

func TestPolicyVerify(t *testing.T) {
	a, b, c := newTestWitness(t, "a.example/w"), newTestWitness(t, "b.example/w"), newTestWitness(t, "c.example/w")
	stranger := newTestWitness(t, "stranger.example/w")
	log, otherLog := newTestLog(t, "jwtledger-audit-0a0b0c0d"), newTestLog(t, "jwtledger-audit-ffffffff")
	ws := "witness A " + a.vkey + "\nwitness B " + b.vkey + "\nwitness C " + c.vkey + "\n"
	other := strings.Replace(testCheckpoint, "20852163", "20852164", 1)
	signed := string(log.sign(t, testCheckpoint))
	// forged is a's line for another checkpoint pasted on this one.
	forged := a.cosign(t, other, 1700000000)
	// impostor has a's name and key hash but a corrupted signature.
	impostor := corrupt(t, a.cosign(t, testCheckpoint, 1700000000))

	type want struct {
		cosigned, missing, invalid []string
		witnessed                  bool
		logErr                     bool
	}
	tests := []struct {
		name   string
		policy string
		note   string
		want   want
	}{
		{name: "all cosigned", policy: ws, note: signed + a.cosign(t, testCheckpoint, 1) + b.cosign(t, testCheckpoint, 2) + c.cosign(t, testCheckpoint, 3),
			want: want{cosigned: []string{"A", "B", "C"}, witnessed: true}},
		{name: "one missing under all", policy: ws, note: signed + a.cosign(t, testCheckpoint, 1) + c.cosign(t, testCheckpoint, 3),
			want: want{cosigned: []string{"A", "C"}, missing: []string{"B"}}},
		{name: "one missing under 2", policy: ws + "quorum 2\n", note: signed + c.cosign(t, testCheckpoint, 3) + a.cosign(t, testCheckpoint, 1),
			want: want{cosigned: []string{"A", "C"}, missing: []string{"B"}, witnessed: true}},
		{name: "log signature only", policy: ws + "quorum any\n", note: signed,
			want: want{missing: []string{"A", "B", "C"}}},
		{name: "unknown signers ignored", policy: ws + "quorum 1\n", note: signed + stranger.cosign(t, testCheckpoint, 1) + b.cosign(t, testCheckpoint, 2),
			want: want{cosigned: []string{"B"}, missing: []string{"A", "C"}, witnessed: true}},
		{name: "cosignature of another checkpoint", policy: ws + "quorum 2\n", note: signed + forged + b.cosign(t, testCheckpoint, 2) + c.cosign(t, testCheckpoint, 3),
			want: want{cosigned: []string{"B", "C"}, invalid: []string{"A"}}},
		{name: "impostor line", policy: ws + "quorum 1\n", note: signed + impostor + b.cosign(t, testCheckpoint, 2),
			want: want{cosigned: []string{"B"}, missing: []string{"C"}, invalid: []string{"A"}}},
		{name: "nested groups met", policy: ws + "group AB all A B\ngroup g any AB C\nquorum g\n", note: signed + a.cosign(t, testCheckpoint, 1) + b.cosign(t, testCheckpoint, 2),
			want: want{cosigned: []string{"A", "B"}, missing: []string{"C"}, witnessed: true}},
		{name: "nested groups not met", policy: ws + "group AB all A B\ngroup g all AB C\nquorum g\n", note: signed + a.cosign(t, testCheckpoint, 1) + c.cosign(t, testCheckpoint, 2),
			want: want{cosigned: []string{"A", "C"}, missing: []string{"B"}}},
		{name: "quorum none", policy: ws + "quorum none\n", note: signed,
			want: want{missing: []string{"A", "B", "C"}, witnessed: true}},
		{name: "policy log key signed", policy: "log " + log.vkey + "\n" + ws + "quorum 1\n", note: signed + a.cosign(t, testCheckpoint, 1),
			want: want{cosigned: []string{"A"}, missing: []string{"B", "C"}, witnessed: true}},
		{name: "another log's checkpoint", policy: "log " + log.vkey + "\n" + ws, note: string(otherLog.sign(t, testCheckpoint)) + a.cosign(t, testCheckpoint, 1),
			want: want{logErr: true}},
		{name: "log signature altered", policy: "log " + log.vkey + "\n" + ws,
			note: strings.Replace(signed, testCheckpoint, other, 1) + a.cosign(t, other, 1), want: want{logErr: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := auditor.ParsePolicy([]byte(tt.policy))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := p.Verify([]byte(tt.note))
			if tt.want.logErr {
				if !errors.Is(err, auditor.ErrLogSignature) || rep != nil {
					t.Fatalf("Verify = %+v, %v; want ErrLogSignature", rep, err)
				}
				return
			}
			var uw *auditor.UnwitnessedError
			switch {
			case tt.want.witnessed && err != nil:
				t.Fatalf("Verify: %v, want witnessed", err)
			case !tt.want.witnessed && !errors.As(err, &uw):
				t.Fatalf("Verify: %v, want an UnwitnessedError", err)
			case uw != nil && uw.Report != rep:
				t.Fatalf("the error's report is not the one returned")
			}
			got := want{cosigned: rep.Cosigned(), missing: rep.Missing, invalid: rep.Invalid, witnessed: rep.Witnessed}
			norm := func(s []string) []string {
				if len(s) == 0 {
					return nil
				}
				return s
			}
			got.cosigned, tt.want.cosigned = norm(got.cosigned), norm(tt.want.cosigned)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("report %+v, want %+v", got, tt.want)
			}
			if rep.Checkpoint.Size != 20852163 || rep.Checkpoint.Origin != "jwtledger/node-1" {
				t.Errorf("checkpoint %+v", rep.Checkpoint)
			}
			if len(rep.Invalid) == 0 && p.Satisfied(rep.Cosigned()) != rep.Witnessed {
				t.Errorf("Satisfied(%v) disagrees with the report", rep.Cosigned())
			}
		})
	}
}

func TestPolicyVerifyMalformed(t *testing.T) {
	a := newTestWitness(t, "a.example/w")
	p, err := auditor.ParsePolicy([]byte("witness A " + a.vkey + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{
		"",
		testCheckpoint, // no signatures
		"not a checkpoint\n\n" + a.cosign(t, testCheckpoint, 1), // text is not a checkpoint
		testCheckpoint + "\n— a.example/w !!!\n",
		testCheckpoint + "\n— a.example/w AAAA\n",
		testCheckpoint + "\n" + strings.TrimSuffix(a.cosign(t, testCheckpoint, 1), "\n"),
		"jwtledger/\x01\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n" + a.cosign(t, testCheckpoint, 1),
	} {
		if rep, err := p.Verify([]byte(n)); !errors.Is(err, auditor.ErrMalformed) || rep != nil {
			t.Errorf("Verify(%q) = %+v, %v; want ErrMalformed", n, rep, err)
		}
	}
}

func TestUnwitnessedErrorMessage(t *testing.T) {
	a, b := newTestWitness(t, "a.example/w"), newTestWitness(t, "b.example/w")
	log := newTestLog(t, "jwtledger-audit-0a0b0c0d")
	p, err := auditor.ParsePolicy([]byte("witness alpha " + a.vkey + "\nwitness beta " + b.vkey + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Verify(append(log.sign(t, testCheckpoint), a.cosign(t, testCheckpoint, 5)...))
	want := "checkpoint jwtledger/node-1 at size 20852163 is not witnessed (quorum all): cosigned by alpha; no cosignature from beta"
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// corrupt flips the last byte of the signature in a signature line.
func corrupt(t *testing.T, line string) string {
	t.Helper()
	f := strings.Fields(line)
	raw, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1
	return f[0] + " " + f[1] + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
}
