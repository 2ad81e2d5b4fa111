package jwtledger

import (
	"context"

	"github.com/jwtledger/jwtledger/internal/keyring"
	"github.com/jwtledger/jwtledger/internal/revocation"
)

// Tuning bounds the external tests measure against.
const (
	RevocationRefresh = revocation.Refresh
	RevocationMaxAge  = revocation.MaxAge
	KeyRefresh        = keyring.Refresh
)

// PrepareIssue applies the registered-claim rules as Issue does.
func (l *Ledger) PrepareIssue(req *IssueRequest) error { return l.prepareIssue(req) }

// RunKeySchedule performs the due steps of the key schedule once.
func (l *Ledger) RunKeySchedule(ctx context.Context) error { return l.keyScheduleStep(ctx) }
