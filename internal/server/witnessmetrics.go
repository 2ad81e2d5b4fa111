package server

import (
	"fmt"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger"
)

// writeWitnessMetrics writes the witnessing series of a ledger with
// witnesses: the age of the newest witnessed checkpoint (what to alert
// on), the sizes, and each witness's failures.
func writeWitnessMetrics(b *strings.Builder, l *jwtledger.Ledger, help func(name, typ, text string)) {
	st, ok := l.Trail().Witnessing()
	if !ok {
		return
	}
	chain := label(l.NodeID())
	help("jwtledger_audit_witnessed_checkpoint_age_seconds", "gauge", "Age of the newest checkpoint the witness quorum cosigned (+Inf while none is); alert when it exceeds a few checkpoint intervals.")
	age := "+Inf"
	if st.Witnessed > 0 && !st.WitnessedTime.IsZero() {
		age = fmt.Sprintf("%.3f", time.Since(st.WitnessedTime).Seconds())
	}
	fmt.Fprintf(b, "jwtledger_audit_witnessed_checkpoint_age_seconds{chain=\"%s\"} %s\n", chain, age)
	help("jwtledger_audit_unwitnessed_seconds", "gauge", "How long the oldest checkpoint newer than the newest witnessed one has waited for the quorum (0 while the newest checkpoint is witnessed; unlike the age, it stays 0 on an idle ledger).")
	waited := 0.0
	if !st.UnwitnessedSince.IsZero() {
		waited = time.Since(st.UnwitnessedSince).Seconds()
	}
	fmt.Fprintf(b, "jwtledger_audit_unwitnessed_seconds{chain=\"%s\"} %.3f\n", chain, waited)
	help("jwtledger_audit_witnessed_checkpoint_size", "gauge", "Tree size of the newest checkpoint the witness quorum cosigned.")
	fmt.Fprintf(b, "jwtledger_audit_witnessed_checkpoint_size{chain=\"%s\"} %d\n", chain, st.Witnessed)
	help("jwtledger_audit_checkpoint_size", "gauge", "Tree size of this node's newest checkpoint.")
	fmt.Fprintf(b, "jwtledger_audit_checkpoint_size{chain=\"%s\"} %d\n", chain, st.Checkpoint)
	help("jwtledger_witness_cosigned_size", "gauge", "Tree size of the newest checkpoint each witness cosigned.")
	for _, w := range st.Witnesses {
		fmt.Fprintf(b, "jwtledger_witness_cosigned_size{chain=\"%s\",witness=\"%s\"} %d\n", chain, label(w.Name), w.Size)
	}
	help("jwtledger_witness_failures_total", "counter", "Checkpoints a witness did not cosign (unreachable, refused, or a cosignature that does not verify).")
	for _, w := range st.Witnesses {
		fmt.Fprintf(b, "jwtledger_witness_failures_total{chain=\"%s\",witness=\"%s\"} %d\n", chain, label(w.Name), w.Failures)
	}
}
