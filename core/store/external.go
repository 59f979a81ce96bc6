package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultDialTimeout bounds the first contact with an external etcd.
const DefaultDialTimeout = 5 * time.Second

// ExternalConfig locates an etcd cluster skiff does not run itself.
type ExternalConfig struct {
	// Endpoints are client URLs: "https://10.0.0.1:2379".
	Endpoints []string
	// CAFile verifies the servers' certificates; CertFile and KeyFile are
	// the client certificate. All empty means plain HTTP (or the system
	// roots for https:// endpoints).
	CAFile, CertFile, KeyFile string
	// DialTimeout bounds the check that the cluster answers.
	// Default DefaultDialTimeout.
	DialTimeout time.Duration
	// Logger receives the client's logs; default: errors only, to stderr.
	Logger *zap.Logger
}

// ConnectExternal connects to an external etcd cluster and checks that one
// of its endpoints answers before returning the client.
func ConnectExternal(ctx context.Context, cfg ExternalConfig) (*clientv3.Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("store: external etcd: no endpoints configured; set at least one client URL such as https://10.0.0.1:2379")
	}
	where := strings.Join(cfg.Endpoints, ", ")
	tlsConfig, err := externalTLS(cfg)
	if err != nil {
		return nil, fmt.Errorf("store: external etcd at %s: %w", where, err)
	}
	timeout := orDefault(cfg.DialTimeout, DefaultDialTimeout)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: timeout,
		TLS:         tlsConfig,
		Logger:      loggerOrDefault(cfg.Logger),
	})
	if err != nil {
		return nil, fmt.Errorf("store: external etcd at %s: %w", where, err)
	}
	// The client dials lazily: ask each endpoint for its status until one
	// answers, so a wrong address or certificate fails here, not at the
	// first write.
	var failures []string
	for _, endpoint := range cfg.Endpoints {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		_, err := cli.Status(sctx, endpoint)
		cancel()
		if err == nil {
			return cli, nil
		}
		failures = append(failures, endpoint+": "+err.Error())
		if ctx.Err() != nil {
			break
		}
	}
	_ = cli.Close() // the connection failed; its close error adds nothing
	return nil, fmt.Errorf("store: external etcd at %s does not answer (%s); check that etcd runs there and that the endpoints and TLS files are right", where, strings.Join(failures, "; "))
}

// externalTLS builds the client TLS config, or nil when no file is given.
func externalTLS(cfg ExternalConfig) (*tls.Config, error) {
	if cfg.CAFile == "" && cfg.CertFile == "" && cfg.KeyFile == "" {
		return nil, nil
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, fmt.Errorf("client certificate %q and key %q must be given together", cfg.CertFile, cfg.KeyFile)
	}
	info := transport.TLSInfo{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile, TrustedCAFile: cfg.CAFile}
	tlsConfig, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load TLS files (ca %q, cert %q, key %q): %w", cfg.CAFile, cfg.CertFile, cfg.KeyFile, err)
	}
	return tlsConfig, nil
}
