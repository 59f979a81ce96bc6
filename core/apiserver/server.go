package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/store"
)

// Config configures the API server.
type Config struct {
	// Store holds the objects; required.
	Store store.Store
	// DataDir keeps the PKI (pki/), tokens.yaml and admin.conf; required.
	DataDir string
	// Listen is the HTTPS address (default ":6443"; port 0 picks one).
	Listen string
	// ExtraSANs are DNS names or IPs clients use to reach the server,
	// added to the serving certificate (node IPs, a load balancer name).
	ExtraSANs []string
	// Admission is the initial admission chain; Server.Admission() changes
	// it later.
	Admission []Admitter
	// WatchCacheSize is the number of recent events kept per resource
	// (default 10000): a watch from an older resourceVersion gets 410 Gone.
	WatchCacheSize int
	// WatchBuffer is how many events a watcher may fall behind before it is
	// closed (default 1024).
	WatchBuffer int
	// BookmarkInterval is how often watchers that allow bookmarks get one
	// (default 1 minute).
	BookmarkInterval time.Duration
	// BootstrapNamespaces are created at start if missing (default:
	// "default", "skiff-system" for the cluster's own objects, and
	// "skiff-node-lease" for node heartbeats).
	BootstrapNamespaces []string
	// ExtraHandlers are mounted by path pattern (http.ServeMux syntax, e.g.
	// "GET /apis/skiff.io/v1/plugins") behind authentication, for read-only
	// endpoints of components running in the server's process.
	ExtraHandlers map[string]http.Handler
	// Services configures cluster IP and NodePort allocation.
	Services ServiceNetwork
}

// Server is the HTTPS API server.
type Server struct {
	cfg       Config
	store     store.Store
	pki       *pki
	tokens    *tokenStore
	admission *AdmissionChain
	metrics   *metrics
	handler   http.Handler
	listener  net.Listener
	url       string

	ctx    context.Context // lives until Close; watch caches run under it
	cancel context.CancelFunc

	cachesMu sync.Mutex
	caches   map[*api.Resource]*watchCache

	services *serviceAllocator // cluster IPs and NodePorts
	proxy    *podProxy         // logs, exec and image import to node agents

	deletedNamespaces sync.Map // name -> time.Time of a DELETE through this server
}

// New prepares a server: PKI and tokens in DataDir, DATA_DIR/admin.conf
// (and ~/.skiff/config, or $SKIFF_CONFIG, if missing), and the listening
// socket, so URL is known before Run.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("apiserver: Config.Store is required")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("apiserver: Config.DataDir is required (e.g. /var/lib/skiff)")
	}
	if cfg.Listen == "" {
		cfg.Listen = ":6443"
	}
	if cfg.WatchCacheSize <= 0 {
		cfg.WatchCacheSize = 10000
	}
	if cfg.WatchBuffer <= 0 {
		cfg.WatchBuffer = 1024
	}
	if cfg.BookmarkInterval <= 0 {
		cfg.BookmarkInterval = time.Minute
	}
	if cfg.BootstrapNamespaces == nil {
		cfg.BootstrapNamespaces = []string{"default", "skiff-system", "skiff-node-lease"}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("apiserver: data dir: %w", err)
	}
	p, err := loadOrCreatePKI(filepath.Join(cfg.DataDir, "pki"), servingSANs(cfg.ExtraSANs), time.Now())
	if err != nil {
		return nil, err
	}
	tokens, err := loadOrCreateTokens(filepath.Join(cfg.DataDir, "tokens.yaml"))
	if err != nil {
		return nil, err
	}
	services, err := newServiceAllocator(cfg.Store, cfg.Services)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("apiserver: listen on %s: %w (is another skiffd running? set a different listen address)", cfg.Listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, store: cfg.Store, pki: p, tokens: tokens,
		admission: NewAdmissionChain(cfg.Admission...),
		metrics:   newMetrics(),
		listener:  ln, url: urlFor(ln.Addr()),
		ctx: ctx, cancel: cancel,
		caches:   map[*api.Resource]*watchCache{},
		services: services,
		proxy:    &podProxy{dataDir: cfg.DataDir},
	}
	s.handler = s.buildHandler()
	if err := s.writeClientConfigs(); err != nil {
		ln.Close()
		cancel()
		return nil, err
	}
	return s, nil
}

// urlFor is the https URL clients on this machine use for addr; a wildcard
// listen address is reached through loopback.
func urlFor(addr net.Addr) string {
	tcp := addr.(*net.TCPAddr)
	host := tcp.IP.String()
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}

func (s *Server) writeClientConfigs() error {
	cfg := s.ClientConfig()
	if err := client.WriteConfig(filepath.Join(s.cfg.DataDir, "admin.conf"), cfg); err != nil {
		return fmt.Errorf("apiserver: write admin.conf: %w", err)
	}
	// The user's own config is written once, never overwritten: it may
	// point at another cluster.
	path := client.DefaultConfigPath()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := client.WriteConfig(path, cfg); err != nil {
			return fmt.Errorf("apiserver: write %s: %w", path, err)
		}
	}
	return nil
}

// ClientConfig is how an admin client reaches this server.
func (s *Server) ClientConfig() *client.Config {
	tok, _ := s.tokens.adminToken()
	return &client.Config{Server: s.url, CertificateAuthorityData: string(s.pki.caPEM), Token: tok}
}

// URL is the server's base URL, e.g. https://127.0.0.1:6443.
func (s *Server) URL() string { return s.url }

// CAPEM is the PEM of the CA that signed the serving certificate.
func (s *Server) CAPEM() []byte { return s.pki.caPEM }

// IssueToken creates a bearer token for user (an agent, a plugin), stores it
// in DATA_DIR/tokens.yaml, and makes it valid at once.
func (s *Server) IssueToken(user string) (string, error) { return s.tokens.Issue(user, "") }

// IssueScopedToken is IssueToken with a scope label admission can check.
func (s *Server) IssueScopedToken(user, scope string) (string, error) {
	return s.tokens.Issue(user, scope)
}

// Admission is the live admission chain; the plugin host replaces its
// admitters when the configuration changes.
func (s *Server) Admission() *AdmissionChain { return s.admission }

// Registry is where plugins register their own metrics; they appear on
// this server's /metrics.
func (s *Server) Registry() prometheus.Registerer { return s.metrics.registry }

// Handler is the full HTTP handler (authn, metrics, routes), for tests and
// embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig serves the certificate from DATA_DIR/pki with HTTP/2 and 1.1.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{s.pki.serving},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// Run serves HTTPS until ctx ends, then shuts down gracefully: new
// connections stop, requests in flight get up to 10 s, watches end.
func (s *Server) Run(ctx context.Context) error {
	defer s.Close()
	if err := s.bootstrap(ctx); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
		HTTP2: &http.HTTP2Config{
			// Every informer and agent keeps watches open on one
			// connection; Go's default of 250 streams is too few for a
			// client process watching many resources.
			MaxConcurrentStreams: 1000,
		},
		BaseContext: func(net.Listener) context.Context { return s.ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(s.listener, "", "") }()
	slog.Info("apiserver: serving", "url", s.url)
	select {
	case err := <-errc:
		return fmt.Errorf("apiserver: serve %s: %w", s.url, err)
	case <-ctx.Done():
	}
	// Ending the base context ends watch streams, which would otherwise
	// hold Shutdown until its deadline.
	s.cancel()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	return nil
}

// Close stops the watch caches and releases the listener. Run calls it.
func (s *Server) Close() error {
	s.cancel()
	err := s.listener.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// bootstrap starts every watch cache before serving, so a client's first
// list-then-watch is always within a cache's window, and creates the
// bootstrap namespaces.
func (s *Server) bootstrap(ctx context.Context) error {
	for _, res := range api.Resources() {
		s.cacheFor(res)
	}
	nsRes, _ := api.ResourceForKind("Namespace")
	for _, name := range s.cfg.BootstrapNamespaces {
		ns := &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name}}
		*ns.GetTypeMeta() = typeMetaOf(nsRes)
		api.SetDefaults(ns)
		if _, err := s.store.Create(ctx, ns); err != nil && !api.IsAlreadyExists(err) {
			return fmt.Errorf("apiserver: create namespace %q: %w", name, err)
		}
	}
	return s.bootstrapServices(ctx)
}

// cacheFor returns the resource's watch cache, starting it on first use.
func (s *Server) cacheFor(res *api.Resource) *watchCache {
	s.cachesMu.Lock()
	defer s.cachesMu.Unlock()
	c, ok := s.caches[res]
	if !ok {
		c = newWatchCache(res, s.store, s.cfg.WatchCacheSize, s.metrics)
		s.caches[res] = c
		go c.run(s.ctx)
	}
	return c
}

type labelsKey struct{}

func labelsFrom(r *http.Request) *requestLabels {
	if l, ok := r.Context().Value(labelsKey{}).(*requestLabels); ok {
		return l
	}
	return &requestLabels{}
}

func (s *Server) buildHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", s.serveReadyz)
	mux.HandleFunc("/version", serveVersion)
	mux.Handle("/metrics", s.metrics.handler())
	mux.HandleFunc("/api", s.routeAPI)
	mux.HandleFunc("/api/", s.routeAPI)
	mux.HandleFunc("/apis", s.routeAPI)
	mux.HandleFunc("/apis/", s.routeAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeStatus(w, r, notFoundPath(r)) })
	for pattern, h := range s.cfg.ExtraHandlers {
		mux.Handle(pattern, h)
	}
	authed := s.authenticate(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		labels := &requestLabels{}
		rec := &statusRecorder{ResponseWriter: w}
		authed.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), labelsKey{}, labels)))
		s.metrics.observe(labels, rec.code, time.Since(start))
	})
}

// serveReadyz is ready when the store answers and every watch cache has
// its initial list.
func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.store.Revision(ctx); err != nil {
		http.Error(w, "store unreachable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.cachesMu.Lock()
	defer s.cachesMu.Unlock()
	for res, c := range s.caches {
		select {
		case <-c.ready:
		default:
			http.Error(w, "watch cache of "+res.GroupResource()+" is still loading", http.StatusServiceUnavailable)
			return
		}
	}
	w.Write([]byte("ok\n"))
}

type versionInfo struct {
	GitVersion string `json:"gitVersion"`
	GitCommit  string `json:"gitCommit,omitempty"`
	GoVersion  string `json:"goVersion"`
	Platform   string `json:"platform"`
}

func serveVersion(w http.ResponseWriter, r *http.Request) {
	v := versionInfo{GitVersion: "devel", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.GitVersion = bi.Main.Version
		}
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" {
				v.GitCommit = kv.Value
			}
		}
	}
	writeJSON(w, http.StatusOK, v)
}
