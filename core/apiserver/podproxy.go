package apiserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/node"
)

// The pod proxy carries `skiff logs`, `skiff exec` and `skiff image import`
// to the node agent that runs the pod:
//
//	GET  /api/v1/namespaces/{ns}/pods/{name}/log   -> agent /pods/{ns}/{name}/log
//	POST /api/v1/namespaces/{ns}/pods/{name}/exec  -> agent /pods/{ns}/{name}/exec
//	POST /api/v1/nodes/{name}/images               -> agent /images/import
//
// The server reaches the agent at the endpoint the agent published on its
// Node and pins the certificate published beside it; it authenticates with
// a client certificate for node.ProxyClientName issued from the cluster CA,
// which agents require. Bodies stream both ways (exec is full duplex).
type podProxy struct {
	dataDir string

	once    sync.Once
	cert    tls.Certificate
	certErr error

	mu         sync.Mutex
	transports map[string]*http.Transport // by endpoint + pinned certificate
}

// servePodProxy serves the proxied paths and reports whether r was one.
func (s *Server) servePodProxy(w http.ResponseWriter, r *http.Request, group, version string, rest []string) bool {
	if group != "" || version != "v1" {
		return false
	}
	var nodeName, target string
	switch {
	case len(rest) == 5 && rest[0] == "namespaces" && rest[2] == "pods" && (rest[4] == "log" || rest[4] == "exec"):
		ns, name, verb := rest[1], rest[3], rest[4]
		if (verb == "log" && r.Method != http.MethodGet) || (verb == "exec" && r.Method != http.MethodPost) {
			writeStatus(w, r, methodNotAllowed(r, map[string]string{"log": "GET", "exec": "POST"}[verb]))
			return true
		}
		labelsFrom(r).resource, labelsFrom(r).verb = "pods/"+verb, "CONNECT"
		obj, err := s.store.Get(r.Context(), podsResource(), ns, name)
		if err != nil {
			writeStatus(w, r, err)
			return true
		}
		pod := obj.(*api.Pod)
		if pod.Spec.NodeName == "" {
			writeStatus(w, r, badRequest("pod %s/%s is not scheduled to a node yet: wait for it to be bound, then retry", ns, name))
			return true
		}
		nodeName, target = pod.Spec.NodeName, "/pods/"+url.PathEscape(ns)+"/"+url.PathEscape(name)+"/"+verb
	case len(rest) == 3 && rest[0] == "nodes" && rest[2] == "images":
		if r.Method != http.MethodPost {
			writeStatus(w, r, methodNotAllowed(r, "POST"))
			return true
		}
		labelsFrom(r).resource, labelsFrom(r).verb = "nodes/images", "CONNECT"
		nodeName, target = rest[1], "/images/import"
	default:
		return false
	}
	s.proxyToAgent(w, r, nodeName, target)
	return true
}

func podsResource() *api.Resource {
	res, _ := api.ResourceForKind("Pod")
	return res
}

func (s *Server) proxyToAgent(w http.ResponseWriter, r *http.Request, nodeName, target string) {
	nodeRes, _ := api.ResourceForKind("Node")
	obj, err := s.store.Get(r.Context(), nodeRes, "", nodeName)
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	n := obj.(*api.Node)
	endpoint, certPEM := n.Annotations[node.AnnotationAgentEndpoint], n.Annotations[node.AnnotationAgentCert]
	if endpoint == "" || certPEM == "" {
		writeStatus(w, r, api.NewStatus(api.ReasonServiceUnavailable, "node %q publishes no agent endpoint (annotations %s and %s): is its agent running with a listen address?", nodeName, node.AnnotationAgentEndpoint, node.AnnotationAgentCert))
		return
	}
	tr, err := s.proxy.transport(endpoint, certPEM)
	if err != nil {
		writeStatus(w, r, api.NewStatus(api.ReasonInternalError, "proxy to node %q: %v", nodeName, err))
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, endpoint+target+"?"+r.URL.RawQuery, r.Body)
	if err != nil {
		writeStatus(w, r, badRequest("proxy to node %q: %v", nodeName, err))
		return
	}
	out.ContentLength = r.ContentLength
	if ct := r.Header.Get("Content-Type"); ct != "" {
		out.Header.Set("Content-Type", ct)
	}
	rc := http.NewResponseController(w)
	if r.Method == http.MethodPost {
		// exec reads stdin while it writes output.
		rc.EnableFullDuplex()
	}
	resp, err := tr.RoundTrip(out)
	if err != nil {
		writeStatus(w, r, api.NewStatus(api.ReasonServiceUnavailable, "node %q agent at %s: %v", nodeName, endpoint, err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		writeStatus(w, r, agentError(resp.StatusCode, string(bytes.TrimSpace(msg))))
		return
	}
	for _, h := range []string{"Content-Type"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	rc.Flush()
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// agentError maps an agent's error reply to a Status.
func agentError(code int, msg string) error {
	reason := api.ReasonInternalError
	switch code {
	case http.StatusNotFound:
		reason = api.ReasonNotFound
	case http.StatusBadRequest:
		reason = api.ReasonBadRequest
	case http.StatusConflict:
		reason = api.ReasonConflict
	case http.StatusServiceUnavailable, http.StatusNotImplemented:
		reason = api.ReasonServiceUnavailable
	}
	return api.NewStatus(reason, "%s", msg)
}

// transport returns a connection pool to one agent, pinned to its
// certificate and presenting the proxy client certificate.
func (p *podProxy) transport(endpoint, certPEM string) (*http.Transport, error) {
	p.once.Do(func() { p.cert, p.certErr = issueProxyClientCert(filepath.Join(p.dataDir, "pki")) })
	if p.certErr != nil {
		return nil, p.certErr
	}
	key := endpoint + "\x00" + certPEM
	p.mu.Lock()
	defer p.mu.Unlock()
	if tr, ok := p.transports[key]; ok {
		return tr, nil
	}
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		return nil, errors.New("the node's agent certificate annotation holds no PEM certificate")
	}
	pinned := block.Bytes
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{p.cert},
			MinVersion:   tls.VersionTLS12,
			// The agent's certificate is self-signed: verify by pinning
			// the exact certificate its Node publishes.
			InsecureSkipVerify: true,
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) == 0 || !bytes.Equal(raw[0], pinned) {
					return errors.New("agent certificate does not match the one published on its Node")
				}
				return nil
			},
		},
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}
	if p.transports == nil {
		p.transports = map[string]*http.Transport{}
	}
	p.transports[key] = tr
	return tr, nil
}

// issueProxyClientCert issues the proxy's client certificate from the
// cluster CA in dir; it lives in memory only and is re-issued per start.
func issueProxyClientCert(dir string) (tls.Certificate, error) {
	ca, caKey, _, err := loadOrCreateCA(dir, time.Now())
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: node.ProxyClientName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pod proxy: issue client certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
