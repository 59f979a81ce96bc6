package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

const (
	// requestTimeout bounds every non-watch request whose context has no
	// deadline of its own, so a hung server never hangs a controller.
	requestTimeout = 30 * time.Second
	dialTimeout    = 10 * time.Second
	// maxErrorBody caps how much of a non-JSON error body ends up in a message.
	maxErrorBody = 4 << 10
)

// Client talks to the skiff API server. It is safe for concurrent use and
// reuses connections (HTTP/2 over TLS: one connection carries every request
// and watch).
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New builds a client from a config. The server's certificate is verified
// against cfg.CertificateAuthorityData when set, else the system roots.
func New(cfg *Config) (*Client, error) {
	if cfg == nil || cfg.Server == "" {
		return nil, errors.New("client config: server: must be set (e.g. https://127.0.0.1:6443)")
	}
	base, err := url.Parse(strings.TrimRight(cfg.Server, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("client config: server %q: must be an http(s) URL such as https://127.0.0.1:6443", cfg.Server)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CertificateAuthorityData != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(cfg.CertificateAuthorityData)) {
			return nil, errors.New("client config: certificate-authority-data: no PEM certificate found")
		}
		tlsConfig.RootCAs = pool
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   dialTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Pings find a dead connection under a long watch instead of
		// waiting for TCP to notice.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second},
	}
	return &Client{base: base, token: cfg.Token, http: &http.Client{Transport: transport}}, nil
}

// FromFile loads a client config file (see LoadConfig) and builds a client.
func FromFile(path string) (*Client, error) {
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	return New(cfg)
}

// Server is the API server's base URL.
func (c *Client) Server() string { return c.base.String() }

// request is one API call.
type request struct {
	method      string
	path        string
	query       url.Values
	body        any // marshalled to JSON unless it is []byte
	contentType string
	stream      bool // a watch: no request timeout, caller closes the body
}

// do sends r and returns the response for 2xx codes. Any other code comes
// back as an *api.Status error.
func (c *Client) do(ctx context.Context, r request) (*http.Response, context.CancelFunc, error) {
	cancel := context.CancelFunc(func() {})
	if _, has := ctx.Deadline(); !has && !r.stream {
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
	}
	var body io.Reader
	contentType := r.contentType
	switch b := r.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("encode %s %s request: %w", r.method, r.path, err)
		}
		body = bytes.NewReader(data)
	}
	if body != nil && contentType == "" {
		contentType = "application/json"
	}
	u := *c.base
	u.Path = c.base.Path + r.path
	u.RawQuery = r.query.Encode()
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		err = c.transportError(ctx, err) // before cancel, which would mask the cause
		cancel()
		return nil, nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		defer cancel()
		return nil, nil, decodeStatus(resp)
	}
	return resp, cancel, nil
}

// call sends r and decodes a JSON response into out (when non-nil).
func (c *Client) call(ctx context.Context, r request, out any) error {
	resp, cancel, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer cancel()
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode response of %s %s: %w", r.method, r.path, c.transportError(ctx, err))
	}
	return nil
}

// transportError turns a failure to talk to the server into a message that
// says what to check.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("the skiff API server at %s did not answer in time: %w", c.base, ctxErr)
		}
		return ctxErr
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuthority) || errors.As(err, &hostnameErr) {
		return fmt.Errorf("cannot verify the skiff API server at %s: %v; check certificate-authority-data and server in the client config", c.base, rootCause(err))
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return &UnreachableError{Server: c.base.String(), Err: opErr.Err}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return &UnreachableError{Server: c.base.String(), Err: dnsErr}
	}
	return fmt.Errorf("request to the skiff API server at %s failed: %w", c.base, err)
}

// UnreachableError means no connection to the API server could be opened.
type UnreachableError struct {
	Server string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the skiff API server at %s: %v; is skiffd running?", e.Server, rootCause(e.Err))
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// rootCause strips wrapper layers so "dial tcp 127.0.0.1:6443: connect:
// connection refused" reads "connection refused".
func rootCause(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// decodeStatus reads an error response. The server sends an api.Status; any
// other body (a proxy's HTML page) becomes a Status with the HTTP code.
func decodeStatus(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st api.Status
	if err := json.Unmarshal(data, &st); err == nil && st.Kind == "Status" && (st.Message != "" || st.Reason != "") {
		if st.Code == 0 {
			st.Code = int32(resp.StatusCode)
		}
		return &st
	}
	reason := reasonForCode(resp.StatusCode)
	msg := strings.TrimSpace(string(data))
	if len(msg) > maxErrorBody {
		msg = msg[:maxErrorBody] + "..."
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	s := api.NewStatus(reason, "%s (HTTP %d from %s %s)", msg, resp.StatusCode, resp.Request.Method, resp.Request.URL.Path)
	s.Code = int32(resp.StatusCode)
	return s
}

func reasonForCode(code int) api.StatusReason {
	switch code {
	case http.StatusNotFound:
		return api.ReasonNotFound
	case http.StatusConflict:
		return api.ReasonConflict
	case http.StatusUnprocessableEntity:
		return api.ReasonInvalid
	case http.StatusBadRequest:
		return api.ReasonBadRequest
	case http.StatusUnauthorized:
		return api.ReasonUnauthorized
	case http.StatusForbidden:
		return api.ReasonForbidden
	case http.StatusMethodNotAllowed:
		return api.ReasonMethodNotAllowed
	case http.StatusGone:
		return api.ReasonGone
	case http.StatusRequestEntityTooLarge:
		return api.ReasonRequestTooLarge
	case http.StatusUnsupportedMediaType:
		return api.ReasonUnsupportedMedia
	case http.StatusGatewayTimeout:
		return api.ReasonTimeout
	case http.StatusServiceUnavailable:
		return api.ReasonServiceUnavailable
	}
	return api.ReasonInternalError
}
