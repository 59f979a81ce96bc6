package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Defaults of EmbeddedConfig.
const (
	DefaultCompactionRetention = time.Hour
	DefaultQuotaBytes          = 4 << 30
	DefaultStartTimeout        = time.Minute
	// DefaultProgressInterval is how often an idle watch gets a bookmark.
	DefaultProgressInterval = time.Minute
)

// EmbeddedConfig configures an etcd server run inside the skiffd process.
type EmbeddedConfig struct {
	// DataDir is skiff's data directory; etcd keeps its files in DataDir/etcd.
	DataDir string
	// CompactionRetention is how much history etcd keeps (periodic
	// auto-compaction). Watches and continue tokens older than that get
	// Gone. Default DefaultCompactionRetention.
	CompactionRetention time.Duration
	// QuotaBytes caps the database size; past it etcd refuses writes.
	// Default DefaultQuotaBytes.
	QuotaBytes int64
	// StartTimeout bounds the wait for etcd to be ready (replaying a large
	// write-ahead log can take a while). Default DefaultStartTimeout.
	StartTimeout time.Duration
	// ProgressInterval is how often watches get progress notifications
	// (Bookmark events). Default DefaultProgressInterval.
	ProgressInterval time.Duration
	// Logger receives etcd's logs; default: errors only, to stderr.
	Logger *zap.Logger
}

// Embedded is an etcd server running in-process, listening on loopback
// ports chosen by the kernel, with a client connected to it.
type Embedded struct {
	etcd      *embed.Etcd
	client    *clientv3.Client
	endpoints []string
	closing   *atomic.Bool
	closed    atomic.Bool
}

// StartEmbedded starts etcd in cfg.DataDir/etcd and waits until it serves.
// Data written before a Close survives a restart on the same directory.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("store: embedded etcd: DataDir is empty; set the server's data directory")
	}
	dir := filepath.Join(cfg.DataDir, "etcd")
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: embedded etcd in %s: start cancelled: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: embedded etcd: create data directory: %w", err)
	}
	retention := orDefault(cfg.CompactionRetention, DefaultCompactionRetention)
	startTimeout := orDefault(cfg.StartTimeout, DefaultStartTimeout)

	// Port 0 on both listeners lets the kernel pick free ports, so several
	// servers (and tests) never collide; the member is alone in its
	// cluster, so nobody needs its peer address.
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	ec := embed.NewConfig()
	ec.Name = "skiff"
	ec.Dir = dir
	ec.ListenClientUrls = []url.URL{loopback}
	ec.AdvertiseClientUrls = []url.URL{loopback}
	ec.ListenPeerUrls = []url.URL{loopback}
	ec.AdvertisePeerUrls = []url.URL{loopback}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = retention.String()
	ec.QuotaBackendBytes = orDefault(cfg.QuotaBytes, DefaultQuotaBytes)
	ec.WatchProgressNotifyInterval = orDefault(cfg.ProgressInterval, DefaultProgressInterval)
	closing := new(atomic.Bool)
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(quietOnClose(loggerOrDefault(cfg.Logger), closing))

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("store: start embedded etcd in %s: %w", dir, err)
	}
	stop := func() {
		closing.Store(true)
		e.Close()
	}
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		stop()
		return nil, fmt.Errorf("store: embedded etcd in %s failed while starting: %w", dir, err)
	case <-timer.C:
		stop()
		return nil, fmt.Errorf("store: embedded etcd in %s not ready after %s; a large data directory may need a longer StartTimeout", dir, startTimeout)
	case <-ctx.Done():
		stop()
		return nil, fmt.Errorf("store: embedded etcd in %s: start cancelled: %w", dir, ctx.Err())
	}

	endpoint := "http://" + e.Clients[0].Addr().String()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      loggerOrDefault(cfg.Logger),
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("store: connect to embedded etcd at %s: %w", endpoint, err)
	}
	return &Embedded{etcd: e, client: cli, endpoints: []string{endpoint}, closing: closing}, nil
}

// Client is connected to the embedded server; Close closes it.
func (e *Embedded) Client() *clientv3.Client { return e.client }

// Endpoints are the server's client URLs, e.g. for etcdctl.
func (e *Embedded) Endpoints() []string { return append([]string(nil), e.endpoints...) }

// Close closes the client, then stops the server; it is safe to call twice.
func (e *Embedded) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	err := e.client.Close()
	if errors.Is(err, context.Canceled) {
		err = nil // the client reports its own shutdown as cancelled
	}
	e.closing.Store(true)
	e.etcd.Close()
	if err != nil {
		return fmt.Errorf("store: close client of embedded etcd: %w", err)
	}
	return nil
}

func orDefault[T comparable](value, fallback T) T {
	var zero T
	if value == zero {
		return fallback
	}
	return value
}

func loggerOrDefault(lg *zap.Logger) *zap.Logger {
	if lg != nil {
		return lg
	}
	return zap.New(zapcore.NewCore(
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.Lock(os.Stderr),
		zapcore.ErrorLevel,
	))
}

// serveStoppedMsg is what etcd logs, at error level, for each listener that
// stops serving; during Close that is expected and means nothing.
const serveStoppedMsg = "setting up serving from embedded etcd failed."

// quietOnClose drops serveStoppedMsg once shutdown has begun and lets every
// other entry through.
func quietOnClose(lg *zap.Logger, closing *atomic.Bool) *zap.Logger {
	return lg.WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core {
		return &closingCore{Core: core, closing: closing}
	}))
}

type closingCore struct {
	zapcore.Core
	closing *atomic.Bool
}

func (c *closingCore) With(fields []zapcore.Field) zapcore.Core {
	return &closingCore{Core: c.Core.With(fields), closing: c.closing}
}

func (c *closingCore) Check(entry zapcore.Entry, checked *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if entry.Message == serveStoppedMsg && c.closing.Load() {
		return checked
	}
	return c.Core.Check(entry, checked)
}
