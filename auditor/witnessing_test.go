package auditor_test

import (
	"strings"
	"testing"

	"github.com/jwtledger/jwtledger/auditor"
)

func TestCheckWitnessing(t *testing.T) {
	a, b := newTestWitness(t, "a.example/w"), newTestWitness(t, "b.example/w")
	log := newTestLog(t, "jwtledger-audit-0a0b0c0d")
	policy, err := auditor.ParsePolicy([]byte("witness A " + a.vkey + "\nwitness B " + b.vkey + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	cp := func(size, root string) string {
		return "jwtledger/node-1\n" + size + "\n" + root + "\n"
	}
	root1, root2, rootFork := "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=", "3q2+796tvu/erb7v3q2+796tvu/erb7v3q2+796tvu8="
	both := func(text string) string {
		return string(log.sign(t, text)) + a.cosign(t, text, 1) + b.cosign(t, text, 2)
	}
	onlyA := func(text string) string { return string(log.sign(t, text)) + a.cosign(t, text, 3) }
	forkedBoth := both(cp("5", rootFork))

	type want struct {
		newest, newestWitnessed int64
		witnessed               bool
		missing, invalid        []string
		kinds                   []string
	}
	tests := []struct {
		name     string
		notes    []string
		external []string
		damage   []auditor.Damage // found by the chain's verification before
		require  bool
		want     want
	}{
		{name: "newest witnessed", notes: []string{both(cp("3", root1)), both(cp("5", root2))}, require: true,
			want: want{newest: 5, newestWitnessed: 5, witnessed: true}},
		{name: "newest cosigned by one", notes: []string{both(cp("3", root1)), onlyA(cp("5", root2))},
			want: want{newest: 5, newestWitnessed: 3, missing: []string{"B"}}},
		{name: "newest cosigned by one, required", notes: []string{both(cp("3", root1)), onlyA(cp("5", root2))}, require: true,
			want: want{newest: 5, newestWitnessed: 3, missing: []string{"B"}, kinds: []string{auditor.DamageUnwitnessed}}},
		{name: "a cosignature pasted from another checkpoint", notes: []string{string(log.sign(t, cp("5", root2))) + a.cosign(t, cp("5", root1), 1) + b.cosign(t, cp("5", root2), 2)}, require: true,
			want: want{newest: 5, invalid: []string{"A"}, kinds: []string{auditor.DamageUnwitnessed}}},
		{name: "no checkpoint, required", require: true,
			want: want{kinds: []string{auditor.DamageUnwitnessed}}},
		{name: "a witnessed checkpoint the chain forks from", notes: []string{both(cp("5", root2))}, external: []string{forkedBoth},
			damage: []auditor.Damage{{Kind: auditor.DamageFork, Chain: "node-1", Seq: 5, Detail: "the tree of 5 records differs from a trusted checkpoint's"}},
			want:   want{newest: 5, newestWitnessed: 5, witnessed: true, kinds: []string{auditor.DamageFork}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := &auditor.LogReport{Damage: append([]auditor.Damage{}, tc.damage...)}
			var notes, ext [][]byte
			for _, n := range tc.notes {
				notes = append(notes, []byte(n))
			}
			for _, n := range tc.external {
				ext = append(ext, []byte(n))
			}
			rep.CheckWitnessing(policy, "node-1", notes, ext, tc.require)
			if len(rep.Witnessing) != 1 {
				t.Fatalf("witnessing reports: %+v", rep.Witnessing)
			}
			w := rep.Witnessing[0]
			if w.Newest != tc.want.newest || w.NewestWitnessed != tc.want.newestWitnessed || w.Witnessed != tc.want.witnessed ||
				strings.Join(w.Missing, ",") != strings.Join(tc.want.missing, ",") || strings.Join(w.Invalid, ",") != strings.Join(tc.want.invalid, ",") {
				t.Errorf("report %+v; want %+v", w, tc.want)
			}
			var kinds []string
			for _, d := range rep.Damage {
				kinds = append(kinds, d.Kind)
			}
			if strings.Join(kinds, ",") != strings.Join(tc.want.kinds, ",") || rep.OK != (len(kinds) == 0) {
				t.Errorf("findings %+v (ok %v); want kinds %v", rep.Damage, rep.OK, tc.want.kinds)
			}
			for _, d := range rep.Damage {
				if d.Kind == auditor.DamageFork && (strings.Join(d.Witnesses, ",") != "A,B" || !strings.Contains(d.Detail, "witness A, B cosigned")) {
					t.Errorf("the fork does not name the witnesses: %+v", d)
				}
			}
		})
	}
}
