package auditor_test

import (
	"bytes"
	"testing"

	"github.com/jwtledger/jwtledger/auditor"
)

// FuzzVerifyExport feeds arbitrary bytes to the offline export verifier:
// it must return a report or an error, never panic or hang.
func FuzzVerifyExport(f *testing.F) {
	const vkey = "other+edee64c2+AX1opL2KiMz1Y8+GQin4RghugKiGb0XuR5W1V4AkRyU2"
	f.Add([]byte(`{"type":"header","format":"jwtledger-audit-export","version":1,"verifier_key":"` + vkey + `"}` + "\n" +
		`{"type":"record","chain":"a","seq":1,"leaf_hash":"AAAA","record":"{}"}` + "\n"))
	f.Add([]byte("type,chain,seq,hash,data\nheader,jwtledger-audit-export,1,,\nleaf,a,2,AAAA,\n"))
	f.Add([]byte(`{"type":"header","format":"jwtledger-audit-export","version":1}` + "\n" + `{"type":"checkpoint","chain":"a","size":5,"note":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := auditor.VerifyExport(bytes.NewReader(data), vkey, auditor.VerifyOptions{})
		if err == nil && rep == nil {
			t.Fatal("no report and no error")
		}
	})
}
