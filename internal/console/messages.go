package console

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

//go:embed messages/*.json
var messageFS embed.FS

// Languages of the catalogue; the first is the default.
var Languages = []string{"en", "ko"}

// catalogue holds every string the console shows, per language: no page
// or script has text of its own. A message may hold {0}, {1}... for its
// arguments.
type catalogue map[string]map[string]string

func loadCatalogue() (catalogue, error) {
	cat := catalogue{}
	for _, lang := range Languages {
		b, err := messageFS.ReadFile("messages/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("console: messages of %s: %w", lang, err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("console: messages of %s: %w", lang, err)
		}
		cat[lang] = m
	}
	return cat, nil
}

// text is message key in lang (else in English, else the key itself) with
// its arguments.
func (cat catalogue) text(lang, key string, args ...any) string {
	s, ok := cat[lang][key]
	if !ok {
		if s, ok = cat[Languages[0]][key]; !ok {
			s = key
		}
	}
	for i, a := range args {
		s = strings.ReplaceAll(s, "{"+strconv.Itoa(i)+"}", fmt.Sprint(a))
	}
	return s
}

// langCookie keeps the language picked with the switch.
const langCookie = "jwtledger_lang"

// choose picks the language of a request: the switch's cookie, else the
// best of Accept-Language, else English.
func (cat catalogue) choose(r *http.Request) string {
	if ck, err := r.Cookie(langCookie); err == nil && slices.Contains(Languages, ck.Value) {
		return ck.Value
	}
	return matchLanguage(r.Header.Get("Accept-Language"), Languages)
}

// matchLanguage returns the supported language the Accept-Language value
// prefers most (RFC 9110 12.5.4: q-values, primary subtags compared case
// insensitively; "*" matches the default), or the first supported one.
func matchLanguage(header string, supported []string) string {
	best, bestQ := supported[0], 0.0
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		lang := ""
		switch {
		case primary == "*":
			lang = supported[0]
		case slices.Contains(supported, primary):
			lang = primary
		}
		if lang != "" && q > bestQ {
			best, bestQ = lang, q
		}
	}
	return best
}
