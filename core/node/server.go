package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/sdk/runtime"
)

// prepareServing loads or creates the agent's self-signed serving
// certificate (DataDir/agent.crt and agent.key) and listens on cfg.Listen.
func (a *Agent) prepareServing() error {
	certPath, keyPath := filepath.Join(a.cfg.DataDir, "agent.crt"), filepath.Join(a.cfg.DataDir, "agent.key")
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil || !certCovers(cert.Leaf, a.cfg.Hostname, a.nodeIPs) {
		certPEM, keyPEM, err := selfSigned(a.cfg.NodeName, a.cfg.Hostname, a.nodeIPs)
		if err != nil {
			return fmt.Errorf("node agent %q: serving certificate: %w", a.cfg.NodeName, err)
		}
		if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
			return fmt.Errorf("node agent %q: %w", a.cfg.NodeName, err)
		}
		if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
			return fmt.Errorf("node agent %q: %w", a.cfg.NodeName, err)
		}
		if cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
			return fmt.Errorf("node agent %q: serving certificate: %w", a.cfg.NodeName, err)
		}
	}
	a.tlsCert = cert
	a.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("node agent %q: listen on %s: %w (is another agent running? set agent.listen)", a.cfg.NodeName, a.cfg.Listen, err)
	}
	a.listener = ln
	port := ln.Addr().(*net.TCPAddr).Port
	a.endpoint = "https://" + net.JoinHostPort(a.nodeIPs[0], strconv.Itoa(port))
	return nil
}

func certCovers(leaf *x509.Certificate, hostname string, ips []string) bool {
	if leaf == nil || time.Until(leaf.NotAfter) < 30*24*time.Hour {
		return false
	}
	for _, ip := range ips {
		if leaf.VerifyHostname(ip) != nil {
			return false
		}
	}
	return true
}

func selfSigned(node, hostname string, ips []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "skiff-agent:" + node},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{hostname},
	}
	for _, s := range append(ips, "127.0.0.1") {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// httpServer serves logs, exec and image import to the API server only:
// its client certificate must chain to the cluster CA and name
// ProxyClientName.
func (a *Agent) httpServer(ctx context.Context) *http.Server {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(a.cfg.ClusterCAPEM)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pods/{namespace}/{name}/log", a.serveLogs)
	mux.HandleFunc("POST /pods/{namespace}/{name}/exec", a.serveExec)
	mux.HandleFunc("POST /images/import", a.serveImport)
	return &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{a.tlsCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
			VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
				if len(chains) == 0 || chains[0][0].Subject.CommonName != ProxyClientName {
					return fmt.Errorf("client certificate must be the API server's proxy certificate (CN %q)", ProxyClientName)
				}
				return nil
			},
		},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
}

func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	http.Error(w, fmt.Sprintf(format, args...), code)
}

// containerFor resolves a request's pod and container (default: the only
// or first container) to the current attempt's ID.
func (a *Agent) containerFor(w http.ResponseWriter, r *http.Request) (uid, name, id string, ok bool) {
	ns, podName := r.PathValue("namespace"), r.PathValue("name")
	worker, found := a.workerFor(ns, podName)
	if !found {
		httpError(w, http.StatusNotFound, "pod %s/%s is not running on node %s", ns, podName, a.cfg.NodeName)
		return "", "", "", false
	}
	pod, _ := worker.snapshot()
	name = r.URL.Query().Get("container")
	if name == "" {
		if len(pod.Spec.Containers) > 1 {
			names := make([]string, 0, len(pod.Spec.Containers))
			for _, c := range pod.Spec.Containers {
				names = append(names, c.Name)
			}
			httpError(w, http.StatusBadRequest, "pod %s/%s has several containers: choose one of %s with -c", ns, podName, strings.Join(names, ", "))
			return "", "", "", false
		}
		name = pod.Spec.Containers[0].Name
	}
	worker.stateMu.Lock()
	st, found := worker.containers[name]
	if found {
		id = st.id
	}
	worker.stateMu.Unlock()
	if !found {
		httpError(w, http.StatusNotFound, "pod %s/%s has no container %q", ns, podName, name)
		return "", "", "", false
	}
	return pod.UID, name, id, true
}

// serveLogs streams a container's log: ?container=&follow=&tail=&previous=&timestamps=.
func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request) {
	uid, name, _, ok := a.containerFor(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	opts := runtime.LogOptions{Follow: q.Get("follow") == "true", Previous: q.Get("previous") == "true", Timestamps: q.Get("timestamps") == "true"}
	if t := q.Get("tail"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			httpError(w, http.StatusBadRequest, "tail: must be an integer, got %q", t)
			return
		}
		opts.Tail = n
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fw := &flushWriter{w: w}
	if err := a.rt.Logs(r.Context(), uid, name, opts, fw); err != nil && !fw.wrote {
		code := http.StatusInternalServerError
		if errors.Is(err, runtime.ErrNotFound) || strings.Contains(err.Error(), "no logs") {
			code = http.StatusNotFound
		}
		httpError(w, code, "%v", err)
	}
}

type flushWriter struct {
	w     http.ResponseWriter
	wrote bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.wrote = true
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// serveExec runs ?command=...&command=... (&tty=true&stdin=true) in a
// container, streaming frames both ways.
func (a *Agent) serveExec(w http.ResponseWriter, r *http.Request) {
	_, name, id, ok := a.containerFor(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	command := q["command"]
	if len(command) == 0 {
		httpError(w, http.StatusBadRequest, "exec: command is required")
		return
	}
	if id == "" {
		httpError(w, http.StatusConflict, "container %q has not started", name)
		return
	}
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex()
	w.Header().Set("Content-Type", "application/vnd.skiff.exec-stream")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	out := NewFrameWriter(w)
	tty := q.Get("tty") == "true"
	opts := runtime.ExecOptions{Command: command, TTY: tty, Stdout: out.ChannelWriter(ChannelStdout), Stderr: out.ChannelWriter(ChannelStderr)}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	resize := make(chan runtime.TerminalSize, 4)
	opts.Resize = resize
	var stdinW *io.PipeWriter
	if q.Get("stdin") == "true" {
		var stdinR *io.PipeReader
		stdinR, stdinW = io.Pipe()
		opts.Stdin = stdinR
	}
	go func() {
		defer func() {
			if stdinW != nil {
				stdinW.Close()
			}
		}()
		for {
			ch, payload, err := ReadFrame(r.Body)
			if err != nil {
				return
			}
			switch ch {
			case ChannelStdin:
				if stdinW != nil {
					stdinW.Write(payload)
				}
			case ChannelStdinClose:
				if stdinW != nil {
					stdinW.Close()
				}
			case ChannelResize:
				var size struct{ Width, Height uint32 }
				if json.Unmarshal(payload, &size) == nil {
					select {
					case resize <- runtime.TerminalSize{Width: size.Width, Height: size.Height}:
					default:
					}
				}
			}
		}
	}()
	code, err := a.rt.Exec(ctx, id, opts)
	exit := ExitFrame{ExitCode: code}
	if err != nil {
		exit.Error = err.Error()
	}
	data, _ := json.Marshal(exit)
	out.WriteFrame(ChannelExit, data)
}

// serveImport loads an OCI or docker-save tar into the runtime.
func (a *Agent) serveImport(w http.ResponseWriter, r *http.Request) {
	imp, ok := a.rt.(runtime.ImageImporter)
	if !ok {
		httpError(w, http.StatusNotImplemented, "the runtime of node %s cannot import images", a.cfg.NodeName)
		return
	}
	images, err := imp.ImportImage(r.Context(), r.Body)
	if err != nil {
		httpError(w, http.StatusBadRequest, "import image on node %s: %v", a.cfg.NodeName, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(images)
}
