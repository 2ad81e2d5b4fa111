package server

import (
	"net/http"
)

// mountConsole serves cfg.Console at its prefix, through the same wrapper
// as every route (request id, log line, metrics, panic safety), and
// redirects GET / to it. Sessions, scopes and CSRF are the console's own.
func (s *Server) mountConsole(console http.Handler, prefix string) {
	if console == nil {
		return
	}
	if prefix == "" {
		prefix = "/console"
	}
	serve := func(w http.ResponseWriter, r *http.Request, _ *call) error {
		console.ServeHTTP(w, r)
		return nil
	}
	for _, pattern := range []string{prefix + "/", prefix} {
		s.mux.Handle(pattern, s.wrap(route{pattern: pattern, access: public, fn: serve}))
	}
	s.mux.Handle("GET /{$}", http.RedirectHandler(prefix+"/", http.StatusFound))
}

// Unwrap lets http.ResponseController reach the connection's writer
// (the console's live tail flushes and extends its write deadline).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
