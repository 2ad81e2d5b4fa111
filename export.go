package jwtledger

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// ExportFormat is the format of an audit export.
type ExportFormat string

// Export formats.
const (
	ExportJSONL ExportFormat = "jsonl"
	ExportCSV   ExportFormat = "csv"
)

// exportLine is one line of a JSONL export. Type "header" comes first; then,
// per chain, its "checkpoint" lines and its "record" lines in seq order.
// A record outside the exported time range (or pruned) has a null record:
// its leaf hash still lets the tree, and so the checkpoints, be verified.
type exportLine struct {
	Type        string  `json:"type"`
	Format      string  `json:"format,omitempty"`
	Version     int     `json:"version,omitempty"`
	VerifierKey string  `json:"verifier_key,omitempty"`
	Chain       string  `json:"chain,omitempty"`
	Seq         int64   `json:"seq,omitempty"`
	LeafHash    []byte  `json:"leaf_hash,omitempty"`
	Record      *string `json:"record,omitempty"`
	Size        int64   `json:"size,omitempty"`
	Root        []byte  `json:"root,omitempty"`
	Note        string  `json:"note,omitempty"`
}

const exportFormatName = "jwtledger-audit-export"

// Export streams the whole ledger (every chain, its checkpoints, every
// record's leaf hash, and the records with time in [since, until) in full)
// to w, in constant memory. Zero times mean no bound.
func (l *Ledger) Export(ctx context.Context, w io.Writer, format ExportFormat, since, until time.Time) error {
	return l.export(ctx, w, format, since, until, nil)
}

// ExportMatching is [Ledger.Export] with the records that f selects in
// full (its time range, event, outcome, sub, jti, actor, kid, request id
// and chain; not its cursors or limit): every other record is exported by
// its leaf hash only, so the export still verifies offline.
func (l *Ledger) ExportMatching(ctx context.Context, w io.Writer, format ExportFormat, f AuditFilter) error {
	return l.export(ctx, w, format, f.Since, f.Until, func(body []byte) bool {
		r, err := audit.Decode(body)
		return err == nil && f.Match(r)
	})
}

func (l *Ledger) export(ctx context.Context, w io.Writer, format ExportFormat, since, until time.Time, match func(body []byte) bool) error {
	var enc exportEncoder
	switch format {
	case ExportJSONL, "":
		enc = &jsonlEncoder{w: bufio.NewWriterSize(w, 1<<16)}
	case ExportCSV:
		enc = &csvEncoder{w: csv.NewWriter(w)}
	default:
		return invalidf("unknown export format %q (want jsonl or csv)", format)
	}
	if err := enc.write(&exportLine{Type: "header", Format: exportFormatName, Version: 1, VerifierKey: l.auditVKey}); err != nil {
		return err
	}
	chains, err := l.db.Chains(ctx)
	if err != nil {
		return err
	}
	lo, hi := int64(-1<<63), int64(1<<63-1)
	if !since.IsZero() {
		lo = since.UnixNano()
	}
	if !until.IsZero() {
		hi = until.UnixNano()
	}
	for _, chain := range chains {
		cps, err := l.db.Checkpoints(ctx, chain)
		if err != nil {
			return err
		}
		for _, cp := range cps {
			if err := enc.write(&exportLine{Type: "checkpoint", Chain: chain, Size: cp.Size, Root: cp.Root[:], Note: string(cp.Note)}); err != nil {
				return err
			}
		}
		line := exportLine{Type: "record", Chain: chain}
		err = l.db.ScanChainTimes(ctx, chain, func(seq, t int64, body, leaf []byte) error {
			line.Seq, line.LeafHash, line.Record = seq, leaf, nil
			if body != nil && t >= lo && t < hi && (match == nil || match(body)) {
				s := string(body)
				line.Record = &s
			}
			return enc.write(&line)
		})
		if err != nil {
			return err
		}
	}
	return enc.flush()
}

type exportEncoder interface {
	write(*exportLine) error
	flush() error
}

type jsonlEncoder struct{ w *bufio.Writer }

func (e *jsonlEncoder) write(l *exportLine) error {
	j, err := json.Marshal(l)
	if err != nil {
		return err
	}
	e.w.Write(j)
	return e.w.WriteByte('\n')
}

func (e *jsonlEncoder) flush() error { return e.w.Flush() }

// The CSV export has the columns type, chain, seq (size for checkpoints),
// hash (base64 leaf hash, or root), data (record, note, or verifier key).
type csvEncoder struct{ w *csv.Writer }

var csvHeader = []string{"type", "chain", "seq", "hash", "data"}

func (e *csvEncoder) write(l *exportLine) error {
	var row []string
	switch l.Type {
	case "header":
		if err := e.w.Write(csvHeader); err != nil {
			return err
		}
		row = []string{"header", exportFormatName, "1", "", l.VerifierKey}
	case "checkpoint":
		row = []string{"checkpoint", l.Chain, strconv.FormatInt(l.Size, 10), base64.StdEncoding.EncodeToString(l.Root), l.Note}
	default:
		data := ""
		kind := "leaf"
		if l.Record != nil {
			data, kind = *l.Record, "record"
		}
		row = []string{kind, l.Chain, strconv.FormatInt(l.Seq, 10), base64.StdEncoding.EncodeToString(l.LeafHash), data}
	}
	return e.w.Write(row)
}

func (e *csvEncoder) flush() error {
	e.w.Flush()
	return e.w.Error()
}

// VerifyExport verifies an export (JSONL or CSV, as made by
// [Ledger.Export]) offline, in constant memory: every record against its
// leaf hash, every chain's tree against its signed checkpoints and the
// external ones in opt. verifierKey pins the key that must have signed the
// checkpoints; when empty, the key named in the export itself is used (which
// proves integrity, not origin).
func VerifyExport(r io.Reader, verifierKey string, opt VerifyAuditOptions) (*AuditReport, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	first, err := br.Peek(1)
	if err != nil {
		return nil, fmt.Errorf("read export: %w", err)
	}
	var next func() (*exportLine, error)
	if first[0] == '{' {
		dec := json.NewDecoder(br)
		next = func() (*exportLine, error) {
			var l exportLine
			if err := dec.Decode(&l); err != nil {
				return nil, err
			}
			return &l, nil
		}
	} else {
		cr := csv.NewReader(br)
		cr.FieldsPerRecord = len(csvHeader)
		next = func() (*exportLine, error) { return csvLine(cr) }
	}
	head, err := next()
	if err != nil || head.Type != "header" || head.Format != exportFormatName {
		return nil, fmt.Errorf("not a jwtledger audit export (missing header line)")
	}
	if head.Version != 1 {
		return nil, fmt.Errorf("export version %d is not supported", head.Version)
	}
	if verifierKey == "" {
		verifierKey = head.VerifierKey
	}
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	verifiers := note.VerifierList(v)
	rep := &AuditReport{Damage: []AuditDamage{}}
	external := map[string][]cpRef{}
	for _, n := range opt.Checkpoints {
		rep.ExternalCheckpoints++
		origin, ref, err := openCheckpoint(n, verifiers)
		if err != nil {
			rep.add(DamageBadSignature, chainOfOrigin(origin), ref.size, "external checkpoint: "+err.Error())
			continue
		}
		ref.external = true
		external[chainOfOrigin(origin)] = append(external[chainOfOrigin(origin)], ref)
	}
	var cur *chainCheck
	seen := map[string]bool{}
	finish := func() {
		if cur == nil {
			return
		}
		cur.checkSize(cur.expected - 1)
		cur.cr.Root = cur.front.root()
		rep.Records += cur.cr.Records
		rep.Chains = append(rep.Chains, *cur.cr)
		cur = nil
	}
	for {
		l, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read export: %w", err)
		}
		if cur == nil || l.Chain != cur.chain {
			finish()
			if seen[l.Chain] {
				return nil, fmt.Errorf("export: chain %q appears twice (not made by jwtledger audit export?)", l.Chain)
			}
			seen[l.Chain] = true
			cur = newChainCheck(l.Chain, rep, nil)
			for _, ref := range external[l.Chain] {
				cur.addTarget(ref)
			}
		}
		switch l.Type {
		case "checkpoint":
			var root tlog.Hash
			copy(root[:], l.Root)
			cur.addStored([]byte(l.Note), l.Size, root, verifiers)
		case "record":
			var body []byte
			if l.Record != nil {
				body = []byte(*l.Record)
			}
			if err := cur.record(l.Seq, body, l.LeafHash); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("export: unknown line type %q", l.Type)
		}
	}
	finish()
	for chain, refs := range external {
		if !seen[chain] && len(refs) > 0 {
			rep.add(DamageTruncated, chain, 1, "chain is missing from the export")
		}
	}
	rep.OK = len(rep.Damage) == 0
	return rep, nil
}

func csvLine(r *csv.Reader) (*exportLine, error) {
	row, err := r.Read()
	if err != nil {
		return nil, err
	}
	if row[0] == "type" { // the column header
		return csvLine(r)
	}
	n, _ := strconv.ParseInt(row[2], 10, 64)
	hash, err := base64.StdEncoding.DecodeString(row[3])
	if err != nil {
		return nil, fmt.Errorf("bad hash %q", row[3])
	}
	switch row[0] {
	case "header":
		return &exportLine{Type: "header", Format: row[1], Version: int(n), VerifierKey: row[4]}, nil
	case "checkpoint":
		return &exportLine{Type: "checkpoint", Chain: row[1], Size: n, Root: hash, Note: row[4]}, nil
	case "record":
		rec := row[4]
		return &exportLine{Type: "record", Chain: row[1], Seq: n, LeafHash: hash, Record: &rec}, nil
	case "leaf":
		return &exportLine{Type: "record", Chain: row[1], Seq: n, LeafHash: hash}, nil
	}
	return nil, fmt.Errorf("unknown row type %q", row[0])
}
