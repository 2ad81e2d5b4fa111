package server

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/api"
	"github.com/jwtledger/jwtledger/keys"
	"github.com/jwtledger/jwtledger/trail"
)

func (s *Server) jwks(w http.ResponseWriter, r *http.Request, _ *call) error {
	body, err := s.l.JWKS(r.Context())
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/jwk-set+json")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.Write(body)
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ *call) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *call) error {
	if err := s.l.Ready(r.Context()); err != nil {
		return &httpError{code: http.StatusServiceUnavailable, err: "not_ready", desc: "the store or the audit trail is unavailable", cause: err}
	}
	if st, ok := s.l.Trail().Witnessing(); ok {
		// Witnessing is reported, never a reason to be unready: issuance
		// goes on while witnesses are away (alert on the age metric).
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "witnessing": st})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// auditQuery serves GET /v1/audit with the CLI's filters and cursor paging.
func (s *Server) auditQuery(w http.ResponseWriter, r *http.Request, _ *call) error {
	q := r.URL.Query()
	f := trail.Filter{Event: trail.Event(q.Get("event")), Outcome: q.Get("outcome"), Sub: q.Get("sub"), JTI: q.Get("jti"), Actor: q.Get("actor"), Limit: 100}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			tv, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return badRequest("%s must be an RFC 3339 time", t.name)
			}
			*t.dst = tv
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return badRequest("limit must be 1..1000")
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return badRequest("invalid cursor")
		}
		f.After = n
	}
	recs, err := s.l.Trail().Query(r.Context(), f)
	if err != nil {
		return err
	}
	next := ""
	if len(recs) == f.Limit {
		next = strconv.FormatInt(recs[len(recs)-1].ID, 10)
	}
	if recs == nil {
		recs = []*trail.Record{}
	}
	writeJSON(w, http.StatusOK, api.AuditPage{NextCursor: next, Records: recs})
	return nil
}

func (s *Server) auditVerify(w http.ResponseWriter, r *http.Request, _ *call) error {
	rep, err := s.l.Trail().Verify(r.Context(), auditor.VerifyOptions{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	cps, err := s.l.Trail().Cosigned(r.Context(), "") // the note with the cosignatures it has so far
	if err != nil {
		return err
	}
	var cp *trail.Checkpoint
	if len(cps) > 0 {
		cp = &cps[len(cps)-1]
	} else if cp, err = s.l.Trail().Checkpoint(r.Context(), trail.Meta(c.meta(r))); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"checkpoint": cp, "verifier_key": s.l.Trail().VerifierKey()})
	return nil
}

func (s *Server) keysList(w http.ResponseWriter, r *http.Request, _ *call) error {
	ks, err := s.l.Keys(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": ks})
	return nil
}

func (s *Server) keysRotate(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Alg string `json:"alg"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	var alg keys.Alg
	if req.Alg != "" {
		a, err := keys.ParseAlg(req.Alg)
		if err != nil {
			return badRequest("%v", err)
		}
		alg = a
	}
	info, err := s.l.RotateKey(r.Context(), alg, c.meta(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (s *Server) clientsList(w http.ResponseWriter, r *http.Request, _ *call) error {
	cs, err := s.l.Clients(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": api.Clients(cs)})
	return nil
}

type createClientRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	api.ClientPolicy
}

func (s *Server) clientsCreate(w http.ResponseWriter, r *http.Request, c *call) error {
	var req createClientRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	creds, cl, err := s.l.CreateClient(r.Context(), jwtledger.NewClient{Name: req.Name, Scopes: req.Scopes, Policy: req.ClientPolicy.Policy()}, c.meta(r))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]any{"client_id": creds.ID, "client_secret": creds.Secret, "client": api.ClientOf(cl)})
	return nil
}

func (s *Server) clientsDelete(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.l.DeleteClient(r.Context(), r.PathValue("id"), c.meta(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) clientsRotate(w http.ResponseWriter, r *http.Request, c *call) error {
	creds, err := s.l.RotateClientSecret(r.Context(), r.PathValue("id"), c.meta(r))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, creds)
	return nil
}
