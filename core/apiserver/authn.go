package apiserver

import (
	"context"
	"net/http"
	"strings"

	"github.com/skiff-sh/skiff/core/api"
)

type userKey struct{}

// UserFrom returns the authenticated user of a request's context.
func UserFrom(ctx context.Context) (UserInfo, bool) {
	u, ok := ctx.Value(userKey{}).(UserInfo)
	return u, ok
}

// WithUser returns ctx carrying user; tests and in-process callers use it.
func WithUser(ctx context.Context, user UserInfo) context.Context {
	return context.WithValue(ctx, userKey{}, user)
}

// publicPaths answer without a token: probes and version discovery.
var publicPaths = map[string]bool{"/healthz": true, "/readyz": true, "/version": true}

// authenticate requires a known bearer token on every non-public path.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if publicPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="skiff"`)
			writeStatus(w, r, api.NewStatus(api.ReasonUnauthorized, "Unauthorized: send `Authorization: Bearer <token>` (the token is in DATA_DIR/admin.conf or ~/.skiff/config)"))
			return
		}
		user, ok := s.tokens.Authenticate(strings.TrimSpace(token))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="skiff"`)
			writeStatus(w, r, api.NewStatus(api.ReasonUnauthorized, "Unauthorized: the bearer token is not known to this server (was the data directory reset? fetch a fresh admin.conf)"))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), user)))
	})
}
