package auditor

import (
	"bufio"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"
)

// ExportFormat is the format of an audit export.
type ExportFormat string

// Export formats.
const (
	ExportJSONL ExportFormat = "jsonl"
	ExportCSV   ExportFormat = "csv"
)

// ErrExportFormat is returned by [NewExportWriter] for a format other than
// [ExportJSONL] and [ExportCSV].
var ErrExportFormat = errors.New("unknown export format (want jsonl or csv)")

// exportLine is one line of a JSONL export. Type "header" comes first; then,
// per chain, its "checkpoint" lines and its "record" lines in seq order.
// A record outside the exported range (or pruned) has a null record: its
// leaf hash still lets the tree, and so the checkpoints, be verified.
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

// An ExportWriter writes an audit export (see [NewExportWriter]).
type ExportWriter struct {
	enc  exportEncoder
	line exportLine
	body string
}

// NewExportWriter starts an export of the ledger whose checkpoints
// verifierKey checks, writing its header to w. Then, per chain, write its
// checkpoints and its records in seq order, and Flush at the end. The
// empty format is [ExportJSONL].
func NewExportWriter(w io.Writer, format ExportFormat, verifierKey string) (*ExportWriter, error) {
	var enc exportEncoder
	switch format {
	case ExportJSONL, "":
		enc = &jsonlEncoder{w: bufio.NewWriterSize(w, 1<<16)}
	case ExportCSV:
		enc = &csvEncoder{w: csv.NewWriter(w)}
	default:
		return nil, fmt.Errorf("%w: %q", ErrExportFormat, format)
	}
	e := &ExportWriter{enc: enc}
	if err := enc.write(&exportLine{Type: "header", Format: exportFormatName, Version: 1, VerifierKey: verifierKey}); err != nil {
		return nil, err
	}
	return e, nil
}

// Checkpoint writes a signed checkpoint of chain.
func (e *ExportWriter) Checkpoint(chain string, size int64, root tlog.Hash, signedNote []byte) error {
	return e.enc.write(&exportLine{Type: "checkpoint", Chain: chain, Size: size, Root: root[:], Note: string(signedNote)})
}

// Record writes record seq of chain: its leaf hash, and its canonical
// encoding body unless body is nil (a record left out, or pruned).
func (e *ExportWriter) Record(chain string, seq int64, leaf, body []byte) error {
	e.line = exportLine{Type: "record", Chain: chain, Seq: seq, LeafHash: leaf}
	if body != nil {
		e.body = string(body)
		e.line.Record = &e.body
	}
	return e.enc.write(&e.line)
}

// Flush writes what is buffered.
func (e *ExportWriter) Flush() error { return e.enc.flush() }

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

// VerifyExport verifies an export (JSONL or CSV, as a ledger's export
// makes it) offline, in constant memory: every record against its leaf
// hash, every chain's tree against its signed checkpoints and the external
// ones in opt. verifierKey pins the key that must have signed the
// checkpoints; when empty, the key named in the export itself is used (which
// proves integrity, not origin). Damage is reported; the error is for input
// that is not an export.
func VerifyExport(r io.Reader, verifierKey string, opt VerifyOptions) (*LogReport, error) {
	return verifyExport(r, verifierKey, opt, true)
}

// verifyExport is VerifyExport; with parallel, the lines of a JSONL export
// are decoded and checked on several cores (see [exportVerifier.jsonLines]).
func verifyExport(r io.Reader, verifierKey string, opt VerifyOptions, parallel bool) (*LogReport, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	first, err := br.Peek(1)
	if err != nil {
		return nil, fmt.Errorf("read export: %w", err)
	}
	var next func() (*exportLine, error)
	var dec *json.Decoder
	if first[0] == '{' {
		dec = json.NewDecoder(br)
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
	v, err := NewLogVerifier(verifierKey, opt)
	if err != nil {
		return nil, err
	}
	e := &exportVerifier{v: v}
	if dec != nil && parallel {
		rest, err := e.jsonLines(io.MultiReader(dec.Buffered(), br))
		if err != nil {
			return nil, err
		}
		// What is left (from a line that is not exactly one JSON value
		// on) is read as before, value by value.
		dec = json.NewDecoder(rest)
	}
	for {
		l, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read export: %w", err)
		}
		if err := e.line(l, nil); err != nil {
			return nil, err
		}
	}
	e.finish()
	v.Missing()
	v.CheckWitnessing()
	return v.Report(), nil
}

// exportVerifier takes an export's lines after the header, in order.
type exportVerifier struct {
	v     *LogVerifier
	cur   *ChainVerifier
	chain string
}

func (e *exportVerifier) finish() {
	if e.cur != nil {
		e.cur.CheckSize(e.cur.Next() - 1)
		e.cur.Done(true)
		e.cur = nil
	}
}

// line takes the next line; chk, when not nil, is what the check of a
// record line on its own found (for the chain the line names).
func (e *exportVerifier) line(l *exportLine, chk *rowCheck) error {
	if e.cur == nil || l.Chain != e.chain {
		e.finish()
		e.chain = l.Chain
		var err error
		if e.cur, err = e.v.Chain(l.Chain, nil); err != nil {
			return fmt.Errorf("export: %w (not made by jwtledger audit export?)", err)
		}
	}
	switch l.Type {
	case "checkpoint":
		var root tlog.Hash
		copy(root[:], l.Root)
		e.cur.Checkpoint([]byte(l.Note), l.Size, root)
	case "record":
		if chk != nil {
			e.cur.fold(l.Seq, *chk)
			return nil
		}
		var body []byte
		if l.Record != nil {
			body = []byte(*l.Record)
		}
		if err := e.cur.Record(l.Seq, body, l.LeafHash); err != nil {
			return err
		}
	default:
		return fmt.Errorf("export: unknown line type %q", l.Type)
	}
	return nil
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
