package console

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The algorithms a rotation may pick (asymmetric: a managed HMAC key
// could not be published in the JWKS).
var rotationAlgs = []string{"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

type keysData struct {
	Keys        []Key
	Algs        []string
	RotateEvery time.Duration
	PrePublish  time.Duration
	NextDue     time.Time
	Rotated     *Key // the key a rotation just made
}

func (c *Console) keysData(x *exchange) (*keysData, error) {
	ks, err := c.b.Keys(x.r.Context())
	if err != nil {
		return nil, err
	}
	// Newest first.
	slices.Reverse(ks)
	d := &keysData{Keys: ks, Algs: rotationAlgs, RotateEvery: c.cfg.RotateEvery, PrePublish: c.cfg.PrePublish}
	if d.RotateEvery > 0 {
		for _, k := range ks {
			if k.State == "active" {
				d.NextDue = k.Created.Add(d.RotateEvery)
				break
			}
		}
	}
	return d, nil
}

func (c *Console) keysPage(x *exchange) error {
	d, err := c.keysData(x)
	if err != nil {
		return err
	}
	return x.ok("keys", "keys.title", d)
}

// rotateKey is POST /v1/keys: a new active key, the previous one
// verify-only; audited as key.rotate.
func (c *Console) rotateKey(x *exchange) error {
	alg := x.r.PostFormValue("alg")
	if alg != "" && !slices.Contains(rotationAlgs, alg) {
		return &RequestError{Msg: "unsupported algorithm " + alg}
	}
	k, err := c.b.RotateKey(x.r.Context(), alg, x.meta(x.client.ID))
	if err != nil {
		return err
	}
	d, err := c.keysData(x)
	if err != nil {
		return err
	}
	d.Rotated = k
	return x.ok("keys", "keys.title", d)
}

type clientsData struct {
	Clients []Client
	Scopes  []string
	Secret  *Credentials // shown once, after create or rotate
	Created bool
	Deleted string
	Form    NewClient
	Error   string
	Self    string
}

func (c *Console) clientsData(x *exchange) (*clientsData, error) {
	cs, err := c.b.Clients(x.r.Context())
	if err != nil {
		return nil, err
	}
	return &clientsData{Clients: cs, Scopes: AllScopes, Self: x.client.ID}, nil
}

func (c *Console) clientsPage(x *exchange) error {
	d, err := c.clientsData(x)
	if err != nil {
		return err
	}
	return x.ok("clients", "clients.title", d)
}

func list(s string) []string {
	var out []string
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		out = append(out, f)
	}
	return out
}

// createClient is POST /v1/clients; the secret is shown once.
func (c *Console) createClient(x *exchange) error {
	x.r.ParseForm()
	nc := NewClient{Name: strings.TrimSpace(x.r.PostFormValue("name")), Scopes: x.r.PostForm["scopes"]}
	nc.Policy.Audiences = list(x.r.PostFormValue("audiences"))
	nc.Policy.Claims = list(x.r.PostFormValue("claims"))
	nc.Policy.TokenScopes = list(x.r.PostFormValue("token_scopes"))
	if v := strings.TrimSpace(x.r.PostFormValue("max_ttl")); v != "" {
		ttl, err := time.ParseDuration(v)
		if err != nil || ttl < 0 {
			return c.clientsError(x, nc, "max_ttl: "+v)
		}
		nc.Policy.MaxTTL = ttl
	}
	creds, err := c.b.CreateClient(x.r.Context(), nc, x.meta(x.client.ID))
	var re *RequestError
	if errors.As(err, &re) {
		return c.clientsError(x, nc, re.Msg)
	}
	if err != nil {
		return err
	}
	d, err := c.clientsData(x)
	if err != nil {
		return err
	}
	d.Secret, d.Created = creds, true
	return x.ok("clients", "clients.title", d)
}

func (c *Console) clientsError(x *exchange, nc NewClient, msg string) error {
	d, err := c.clientsData(x)
	if err != nil {
		return err
	}
	d.Form, d.Error = nc, msg
	return x.render(http.StatusBadRequest, "clients", "clients.title", d)
}

// rotateClient is POST /v1/clients/{id}/rotate-secret; the new secret is
// shown once and the client's console sessions on this node end.
func (c *Console) rotateClient(x *exchange) error {
	id := x.r.PathValue("id")
	creds, err := c.b.RotateClientSecret(x.r.Context(), id, x.meta(x.client.ID))
	if err != nil {
		return err
	}
	if id != x.client.ID {
		c.sess.endClient(id)
	}
	d, err := c.clientsData(x)
	if err != nil {
		return err
	}
	d.Secret = creds
	return x.ok("clients", "clients.title", d)
}

// deleteClient is DELETE /v1/clients/{id}; its sessions end with it.
func (c *Console) deleteClient(x *exchange) error {
	id := x.r.PathValue("id")
	if err := c.b.DeleteClient(x.r.Context(), id, x.meta(x.client.ID)); err != nil {
		return err
	}
	c.sess.endClient(id)
	if id == x.client.ID {
		x.setCookie(sessionCookie, "", -1)
		http.Redirect(x.w, x.r, c.prefix+"/login", http.StatusSeeOther)
		return nil
	}
	d, err := c.clientsData(x)
	if err != nil {
		return err
	}
	d.Deleted = id
	return x.ok("clients", "clients.title", d)
}
