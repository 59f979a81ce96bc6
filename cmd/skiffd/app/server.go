package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/skiff-sh/skiff/core/apiserver"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/node"
	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/core/store"
)

func newServerCommand() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: store, API server, controllers and scheduler",
		Long: `Run the control plane. With no store.endpoints configured, skiffd starts an
embedded etcd in DATA_DIR/etcd; otherwise it uses the external etcd cluster.
On first start it creates a CA, a serving certificate and an admin token in
DATA_DIR, and writes the client config to DATA_DIR/admin.conf (and to
~/.skiff/config if that file does not exist).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath, cmd.Flags())
			if err != nil {
				return err
			}
			return runServer(cmd.Context(), cfg, configSource{path: configPath, flags: cmd.Flags()})
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "config file (see conf/skiffd.yaml)")
	def := defaultConfig()
	f.String("data-dir", def.DataDir, "directory for etcd data, certificates and tokens")
	f.String("listen", def.Listen, "HOST:PORT the API server listens on")
	f.String("advertise-address", def.AdvertiseAddress, "IPv4 address pods reach the API server at (default: the listen IP, or the default route's address when listening on all addresses)")
	f.Bool("agent", def.Agent.Enabled, "run the local node agent (agent.enabled)")
	return cmd
}

func runServer(ctx context.Context, cfg *Config, src configSource) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data-dir: %w", err)
	}
	etcd, closeEtcd, err := openEtcd(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeEtcd()
	st := store.NewEtcd(etcd, cfg.Store.Prefix)

	services := cfg.Services.network()
	services.AdvertiseAddress = cfg.advertiseAddress(node.DefaultRouteIP)
	sans, err := cfg.servingSANs(services.AdvertiseAddress)
	if err != nil {
		return err
	}
	pluginStatus := &pluginStatusHandler{}
	srv, err := apiserver.New(apiserver.Config{
		Store:     st,
		DataDir:   cfg.DataDir,
		Listen:    cfg.Listen,
		ExtraSANs: sans,
		// `skiff plugins` reads the plugin host's status here.
		ExtraHandlers: map[string]http.Handler{"GET " + PluginsPath: pluginStatus},
		// skiff-system holds the cluster's own objects; node heartbeats
		// (Leases) live in skiff-node-lease, as kube-node-lease in Kubernetes.
		BootstrapNamespaces: []string{"default", "skiff-system", "skiff-node-lease"},
		Services:            services,
	})
	if err != nil {
		return err
	}
	controllers, err := planControllers(cfg)
	if err != nil {
		srv.Close()
		return err
	}
	controllers.attach(srv, pluginStatus)
	// Every server runs the plugin host (admission runs wherever a write
	// arrives); only the leader schedules and reconciles.
	host, stopPlugins, err := startPlugins(ctx, cfg, src, srv.Registry(), pluginStatus, srv.Admission())
	if err != nil {
		srv.Close()
		return err
	}
	defer stopPlugins()
	ctx, cancel := context.WithCancel(ctx)
	leaderDone := make(chan struct{})
	defer func() { <-leaderDone }() // the scheduler's calls end before the plugins unload
	defer cancel()
	go func() {
		defer close(leaderDone)
		err := runLeaderOnly(ctx, cfg, etcd, func(ctx context.Context) {
			runLeaderWork(ctx, cfg, controllers, host, srv.ClientConfig())
		})
		if err != nil && ctx.Err() == nil {
			slog.Error("leader election stopped", "err", err)
		}
	}()
	slog.Info("skiffd server starting", "listen", srv.URL(), "data-dir", cfg.DataDir,
		"client-config", filepath.Join(cfg.DataDir, "admin.conf"))
	if cfg.Agent.Enabled {
		go func() {
			if err := runAgent(ctx, cfg, srv.ClientConfig()); err != nil {
				slog.Error("node agent stopped", "err", err)
			}
		}()
	}
	return srv.Run(ctx)
}

// runLeaderWork runs the controllers and the scheduler until ctx ends (the
// lead is lost or the server stops) and both have returned.
func runLeaderWork(ctx context.Context, cfg *Config, controllers *controllerPlan, host *plugin.Host, clientCfg *client.Config) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := controllers.run(ctx, clientCfg); err != nil && ctx.Err() == nil {
			slog.Error("controllers stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := runScheduler(ctx, cfg, host, clientCfg); err != nil && ctx.Err() == nil {
			slog.Error("scheduler stopped", "err", err)
		}
	}()
	wg.Wait()
}

// openEtcd returns a client for the configured store: an external cluster
// when endpoints are set, else an embedded etcd in the data dir.
func openEtcd(ctx context.Context, cfg *Config) (*clientv3.Client, func(), error) {
	if len(cfg.Store.Endpoints) > 0 {
		cli, err := store.ConnectExternal(ctx, store.ExternalConfig{
			Endpoints:   cfg.Store.Endpoints,
			CAFile:      cfg.Store.CAFile,
			CertFile:    cfg.Store.CertFile,
			KeyFile:     cfg.Store.KeyFile,
			DialTimeout: cfg.Store.DialTimeout,
		})
		if err != nil {
			return nil, nil, err
		}
		slog.Info("using external etcd", "endpoints", cfg.Store.Endpoints)
		return cli, func() { cli.Close() }, nil
	}
	emb, err := store.StartEmbedded(ctx, store.EmbeddedConfig{
		DataDir:             cfg.DataDir,
		CompactionRetention: cfg.Store.CompactionRetention,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.DataDir, err)
	}
	slog.Info("embedded etcd ready", "dir", filepath.Join(cfg.DataDir, "etcd"))
	return emb.Client(), func() { emb.Close() }, nil
}

// servingSANs are the names the serving certificate covers beyond the
// API server's defaults: api.extra-sans, and those pods reach it by, as
// the `skiff` Service in default: its cluster IP (the first of
// services.cidr), its DNS names and the advertised address.
func (c *Config) servingSANs(advertise string) ([]string, error) {
	pfx, err := netip.ParsePrefix(c.Services.CIDR)
	if err != nil {
		return nil, fmt.Errorf("services.cidr: %w", err)
	}
	sans := append(slices.Clone(c.API.ExtraSANs), pfx.Masked().Addr().Next().String(),
		"skiff", "skiff.default", "skiff.default.svc", "skiff.default.svc."+c.Services.ClusterDomain)
	if advertise != "" {
		sans = append(sans, advertise)
	}
	return sans, nil
}
