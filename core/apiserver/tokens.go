package apiserver

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"

	"sigs.k8s.io/yaml"
)

// AdminUser is the user of the admin token written to admin.conf.
const AdminUser = "admin"

// UserInfo is who made a request, as resolved from its bearer token.
type UserInfo struct {
	Name string
	// Scope is an optional label of what the token is for ("agent",
	// "plugin:<name>"); admission plugins may use it to restrict writes.
	Scope string
}

// tokenEntry is one line of DATA_DIR/tokens.yaml.
type tokenEntry struct {
	User  string `json:"user"`
	Scope string `json:"scope,omitempty"`
}

type tokensFile struct {
	// Tokens maps a bearer token (64 hex characters) to its user.
	Tokens map[string]tokenEntry `json:"tokens"`
}

// tokenStore holds the known bearer tokens. Lookups go through the SHA-256 of
// the presented token, so the map access leaks nothing useful about stored
// tokens, then confirm with a constant-time compare.
type tokenStore struct {
	path string

	mu     sync.RWMutex
	file   tokensFile
	byHash map[[32]byte]tokenRecord
}

type tokenRecord struct {
	token string
	user  UserInfo
}

// loadOrCreateTokens reads path, creating it with a fresh admin token on
// first start.
func loadOrCreateTokens(path string) (*tokenStore, error) {
	ts := &tokenStore{path: path}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		ts.file.Tokens = map[string]tokenEntry{}
	case err != nil:
		return nil, fmt.Errorf("tokens: read %s: %w", path, err)
	default:
		if err := yaml.UnmarshalStrict(data, &ts.file); err != nil {
			return nil, fmt.Errorf("tokens: %s: %w (expected `tokens: {<token>: {user: <name>, scope: <optional>}}`)", path, err)
		}
		if ts.file.Tokens == nil {
			ts.file.Tokens = map[string]tokenEntry{}
		}
	}
	for tok, e := range ts.file.Tokens {
		if len(tok) < 32 || e.User == "" {
			return nil, fmt.Errorf("tokens: %s: token %.6s...: must be at least 32 characters with a non-empty user", path, tok)
		}
	}
	if _, ok := ts.adminToken(); !ok {
		if _, err := ts.issue(AdminUser, ""); err != nil {
			return nil, err
		}
	} else if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	ts.index()
	return ts, nil
}

func (ts *tokenStore) index() {
	ts.byHash = make(map[[32]byte]tokenRecord, len(ts.file.Tokens))
	for tok, e := range ts.file.Tokens {
		ts.byHash[sha256.Sum256([]byte(tok))] = tokenRecord{token: tok, user: UserInfo{Name: e.User, Scope: e.Scope}}
	}
}

// adminToken returns the unscoped token of the admin user.
func (ts *tokenStore) adminToken() (string, bool) {
	for tok, e := range ts.file.Tokens {
		if e.User == AdminUser && e.Scope == "" {
			return tok, true
		}
	}
	return "", false
}

// issue adds a random token for user and persists the file.
func (ts *tokenStore) issue(user, scope string) (string, error) {
	if user == "" {
		return "", errors.New("issue token: user must not be empty")
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	tok := hex.EncodeToString(buf)
	ts.file.Tokens[tok] = tokenEntry{User: user, Scope: scope}
	data, err := yaml.Marshal(&ts.file)
	if err != nil {
		return "", err
	}
	if err := writeSecret(ts.path, data); err != nil {
		delete(ts.file.Tokens, tok)
		return "", fmt.Errorf("issue token for %q: %w", user, err)
	}
	return tok, nil
}

// Issue adds a token for user (and optional scope) and makes it valid at once.
func (ts *tokenStore) Issue(user, scope string) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tok, err := ts.issue(user, scope)
	if err == nil {
		ts.index()
	}
	return tok, err
}

// Authenticate resolves a presented bearer token.
func (ts *tokenStore) Authenticate(token string) (UserInfo, bool) {
	sum := sha256.Sum256([]byte(token))
	ts.mu.RLock()
	rec, ok := ts.byHash[sum]
	ts.mu.RUnlock()
	if !ok || subtle.ConstantTimeCompare([]byte(rec.token), []byte(token)) != 1 {
		return UserInfo{}, false
	}
	return rec.user, true
}
