package auditor_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/jwtledger/jwtledger/auditor"
)

// An auditor checks a checkpoint they were given against their policy.
func ExamplePolicy_Verify() {
	policyText, _ := os.ReadFile("testdata/golden/policy.txt")
	signed, _ := os.ReadFile("testdata/golden/checkpoint.txt")
	p, err := auditor.ParsePolicy(policyText)
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := p.Verify(signed)
	var uw *auditor.UnwitnessedError
	switch {
	case errors.As(err, &uw):
		fmt.Println("not witnessed:", err)
	case err != nil:
		fmt.Println("not a checkpoint of the policy's log:", err)
	default:
		fmt.Printf("%s at size %d, signed by %s\n", rep.Checkpoint.Origin, rep.Checkpoint.Size, rep.LogKey)
		for _, c := range rep.Cosignatures {
			fmt.Println("cosigned by", c.Witness, "at", c.Time.Format("2006-01-02 15:04:05"))
		}
	}
	// Output:
	// jwtledger/node-1 at size 7, signed by jwtledger-audit-5eed0001
	// cosigned by alpha at 2023-11-14 22:13:20
	// cosigned by beta at 2023-11-14 22:14:02
}

// A witness given on a command line, and a policy of one witness.
func ExampleParseWitness() {
	w, err := auditor.ParseWitness("alpha=witness.example/alpha+0a079071+BJmM2LHKnS9n/vXg3aBZttAqv+zjt6dJopP1iOW3VWn2@https://witness.example/alpha")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := auditor.NewPolicy([]auditor.Witness{w}, 0)
	fmt.Print(p)
	// Output:
	// witness alpha witness.example/alpha+0a079071+BJmM2LHKnS9n/vXg3aBZttAqv+zjt6dJopP1iOW3VWn2 https://witness.example/alpha
	// quorum all
}
