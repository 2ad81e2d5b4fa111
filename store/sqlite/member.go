//go:build cgo

package sqlite

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The few functions of SQLite's C API jl_member needs, from the SQLite
// github.com/mattn/go-sqlite3 links into the program (see fastscan.go).
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_context sqlite3_context;
typedef struct sqlite3_value sqlite3_value;
int sqlite3_auto_extension(void (*entry)(void));
int sqlite3_create_function_v2(sqlite3 *db, const char *name, int nArg, int eTextRep, void *app,
	void (*fn)(sqlite3_context *, int, sqlite3_value **), void (*step)(sqlite3_context *, int, sqlite3_value **),
	void (*final)(sqlite3_context *), void (*destroy)(void *));
const void *sqlite3_value_blob(sqlite3_value *v);
int sqlite3_value_bytes(sqlite3_value *v);
int sqlite3_value_int(sqlite3_value *v);
void sqlite3_result_text(sqlite3_context *ctx, const char *s, int n, void (*destructor)(void *));
void sqlite3_result_null(sqlite3_context *ctx);

#define JL_UTF8 1
#define JL_DETERMINISTIC 0x000000800
#define JL_INNOCUOUS 0x000200000
#define JL_STATIC ((void (*)(void *))0)
#define JL_TRANSIENT ((void (*)(void *))-1)

// The symbol tables of the packed form (events, outcomes, algorithms),
// set from Go's (packed.Events...) before any connection opens.
static const char **jl_syms[3];
static int jl_nsyms[3];

static void jl_set_syms(int t, const char **syms, int n) { jl_syms[t] = syms; jl_nsyms[t] = n; }

// A reader of a packed body; ok is 0 after the first error.
typedef struct { const unsigned char *b; int n, pos, ok; } jl_rd;

static uint64_t jl_uvarint(jl_rd *r) {
	uint64_t x = 0;
	for (int s = 0; r->ok && s < 70; s += 7) {
		if (r->pos >= r->n) break;
		unsigned char c = r->b[r->pos++];
		if (s == 63 && c > 1) break;
		x |= (uint64_t)(c & 0x7f) << s;
		if (c < 0x80) return x;
	}
	r->ok = 0;
	return 0;
}

// jl_str reads a string: its start in *p, its length returned.
static int jl_str(jl_rd *r, const unsigned char **p) {
	uint64_t len = jl_uvarint(r);
	if (!r->ok || len > (uint64_t)(r->n - r->pos)) { r->ok = 0; return 0; }
	*p = r->b + r->pos;
	r->pos += (int)len;
	return (int)len;
}

// jl_sym reads a symbol of table t into *p (a static string or a slice of
// the body) and its length.
static int jl_sym(jl_rd *r, int t, const unsigned char **p, int *isStatic) {
	uint64_t c = jl_uvarint(r);
	*isStatic = 0;
	if (!r->ok) return 0;
	if (c == 0) return jl_str(r, p);
	if (c > (uint64_t)jl_nsyms[t]) { r->ok = 0; return 0; }
	*p = (const unsigned char *)jl_syms[t][c - 1];
	*isStatic = 1;
	return (int)strlen(jl_syms[t][c - 1]);
}

// The members jl_member reads, by number (memberNumbers in Go).
enum { M_CHAIN, M_EVENT, M_OUTCOME, M_REASON, M_ACTOR, M_REMOTE, M_SUB, M_JTI, M_KID, M_ALG, M_TOKEN, M_REQUEST_ID };

// jl_member(body, m) is member m of packed body body as text, NULL when
// the body has no such member, is not packed, or does not parse.
static void jl_member(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
	(void)argc;
	// sqlite3_value_blob before sqlite3_value_bytes, as SQLite asks.
	jl_rd r;
	r.b = sqlite3_value_blob(argv[0]);
	r.n = sqlite3_value_bytes(argv[0]);
	r.pos = 1;
	r.ok = 1;
	int m = sqlite3_value_int(argv[1]);
	const unsigned char *p = 0;
	int len = 0, st = 0;
	if (r.b == 0 || r.n < 1 || r.b[0] != 1) goto none;
	uint64_t flags = jl_uvarint(&r);
	jl_uvarint(&r); // seq
	len = jl_str(&r, &p);
	if (m == M_CHAIN) goto found;
	if (r.n - r.pos < 8) goto none;
	r.pos += 8; // time
	len = jl_sym(&r, 0, &p, &st);
	if (m == M_EVENT) goto found;
	len = jl_sym(&r, 1, &p, &st);
	if (m == M_OUTCOME) goto found;
	st = 0;
	for (int bit = 0; bit < 4; bit++) { // reason actor remote sub
		if (!(flags & (1u << bit))) {
			if (m == M_REASON + bit) goto none;
			continue;
		}
		len = jl_str(&r, &p);
		if (m == M_REASON + bit) goto found;
	}
	if (flags & (1u << 4)) { // aud
		uint64_t k = jl_uvarint(&r);
		for (uint64_t i = 0; r.ok && i < k; i++) jl_str(&r, &p);
	}
	for (int bit = 5; bit < 7; bit++) { // jti kid
		if (!(flags & (1u << bit))) {
			if (m == M_JTI + bit - 5) goto none;
			continue;
		}
		len = jl_str(&r, &p);
		if (m == M_JTI + bit - 5) goto found;
	}
	if (flags & (1u << 7)) {
		len = jl_sym(&r, 2, &p, &st);
		if (m == M_ALG) goto found;
		st = 0;
	} else if (m == M_ALG) goto none;
	if (flags & (1u << 8)) jl_uvarint(&r); // exp
	if (flags & (1u << 9)) {
		if (flags & (1u << 11)) {
			if (r.n - r.pos < 32) goto none;
			if (m == M_TOKEN) {
				static const char hexdig[] = "0123456789abcdef";
				char hex[64];
				for (int i = 0; i < 32; i++) {
					hex[2 * i] = hexdig[r.b[r.pos + i] >> 4];
					hex[2 * i + 1] = hexdig[r.b[r.pos + i] & 15];
				}
				if (r.ok) { sqlite3_result_text(ctx, hex, 64, JL_TRANSIENT); return; }
				goto none;
			}
			r.pos += 32;
		} else {
			len = jl_str(&r, &p);
			if (m == M_TOKEN) goto found;
		}
	} else if (m == M_TOKEN) goto none;
	if ((flags & (1u << 10)) && m == M_REQUEST_ID) {
		len = jl_str(&r, &p);
		goto found;
	}
none:
	sqlite3_result_null(ctx);
	return;
found:
	if (!r.ok) goto none;
	sqlite3_result_text(ctx, (const char *)p, len, st ? JL_STATIC : JL_TRANSIENT);
}

static int jl_init(sqlite3 *db, char **err, const void *api) {
	(void)err; (void)api;
	return sqlite3_create_function_v2(db, "jl_member", 2, JL_UTF8 | JL_DETERMINISTIC | JL_INNOCUOUS, 0, jl_member, 0, 0, 0);
}

static int jl_register(void) { return sqlite3_auto_extension((void (*)(void))jl_init); }
*/
import "C"

import (
	"fmt"
	"strconv"
	"unsafe"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store/internal/packed"
	"github.com/jwtledger/jwtledger/store/internal/tables"
)

// memberNumbers are the members jl_member reads, numbered as its enum.
var memberNumbers = map[string]int{"chain": 0, "event": 1, "outcome": 2, "reason": 3, "actor": 4, "remote": 5,
	"sub": 6, "jti": 7, "kid": 8, "alg": 9, "token_sha256": 10, "request_id": 11}

// jl_member is registered with every SQLite connection the process opens
// (sqlite3_auto_extension), before the first: the SQL function by which
// the queries filter on the members of packed bodies, read in C.
func init() {
	for t, syms := range [][]string{packed.Events, packed.Outcomes, packed.Algs} {
		arr := (**C.char)(C.malloc(C.size_t(len(syms)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
		cs := unsafe.Slice(arr, len(syms))
		for i, s := range syms {
			cs[i] = C.CString(s) // kept for the life of the process
		}
		C.jl_set_syms(C.int(t), arr, C.int(len(syms)))
	}
	if rc := C.jl_register(); rc != 0 {
		panic(fmt.Sprintf("sqlite: register jl_member: error %d", int(rc)))
	}
}

// member is the SQL expression of member m of a record's body: read by
// jl_member from a packed body, by json_extract from a canonical one
// (written before the packed form, or one it could not hold); NULL for a
// pruned (empty) body.
func member(m string) string {
	n, ok := memberNumbers[m]
	if !ok {
		panic("sqlite: no member " + m)
	}
	return "CASE WHEN substr(body, 1, 1) = X'01' THEN jl_member(body, " + strconv.Itoa(n) +
		") WHEN length(body) > 0 THEN json_extract(CAST(body AS TEXT), '$." + m + "') END"
}

// sealBodies numbers and seals recs after head of chain (tables.Seal) and
// returns the bodies the store keeps: packed ([packed.Bodies]).
func sealBodies(chain string, head uint64, recs []*audit.Record) [][]byte {
	return packed.Bodies(recs, tables.Seal(chain, head, recs))
}

// canonical wraps fn, a reader of stored bodies, to be called with their
// canonical encodings ([packed.Encoding]): what scans hand on.
func canonical(fn func(seq int64, body, leaf []byte) error) func(seq int64, body, leaf []byte) error {
	var enc packed.Reader
	return func(seq int64, body, leaf []byte) error { return fn(seq, enc.Encoding(body), leaf) }
}
