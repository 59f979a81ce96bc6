package app

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/skiff-sh/skiff/core/apiserver"
)

// Config is skiffd's configuration. conf/skiffd.yaml documents every key;
// keys are kebab-case, nested with dots.
type Config struct {
	DataDir string `koanf:"data-dir"`
	Listen  string `koanf:"listen"`
	// AdvertiseAddress is the IP pods reach the API server at, published
	// in the `skiff` Service's Endpoints; empty derives it (advertiseAddress).
	AdvertiseAddress string      `koanf:"advertise-address"`
	Store            StoreConfig `koanf:"store"`
	API              APIConfig   `koanf:"api"`
	// Scheduler and Plugins are documented in plugins_config.go.
	Scheduler SchedulerConfig `koanf:"scheduler"`
	Plugins   PluginsConfig   `koanf:"plugins"`
	// Admission plugins run on every create and update, in order.
	Admission []PluginConfig `koanf:"admission"`
	// Network selects the node's network backend and service proxy.
	Network NetworkConfig `koanf:"network"`
	Agent   AgentConfig   `koanf:"agent"`
	// Services and DNS are documented in services.go.
	Services ServicesConfig `koanf:"services"`
	DNS      DNSConfig      `koanf:"dns"`
	// Controllers selects controllers: "*" all, "name" one, "-name" not it.
	Controllers       []string                  `koanf:"controllers"`
	ControllerWorkers int                       `koanf:"controller-workers"`
	ControllerArgs    map[string]map[string]any `koanf:"controller-args"`
	LeaderElection    LeaderElectionConfig      `koanf:"leader-election"`
	// ProcessControllers run as go-plugin processes while this server leads.
	ProcessControllers []ProcessControllerConfig `koanf:"process-controllers"`
}

// StoreConfig selects the embedded etcd (no endpoints) or an external cluster.
type StoreConfig struct {
	Endpoints   []string      `koanf:"endpoints"`
	CAFile      string        `koanf:"ca-file"`
	CertFile    string        `koanf:"cert-file"`
	KeyFile     string        `koanf:"key-file"`
	Prefix      string        `koanf:"prefix"`
	DialTimeout time.Duration `koanf:"dial-timeout"`
	// CompactionRetention is how much history the embedded etcd keeps; watches
	// older than this must re-list.
	CompactionRetention time.Duration `koanf:"compaction-retention"`
}

// APIConfig tunes the API server.
type APIConfig struct {
	// ExtraSANs are extra DNS names or IPs for the serving certificate, for
	// clients that reach the server by another name.
	ExtraSANs []string `koanf:"extra-sans"`
}

func defaultConfig() Config {
	return Config{
		DataDir: "/var/lib/skiff",
		Listen:  "127.0.0.1:6443",
		Store: StoreConfig{
			Prefix:              "/skiff",
			DialTimeout:         5 * time.Second,
			CompactionRetention: time.Hour,
		},
		Scheduler: SchedulerConfig{Defaults: true},
		Plugins:   PluginsConfig{LoadTimeout: 30 * time.Second},
		Network:   defaultNetworkConfig(),
		Agent:     defaultAgentConfig(),
		Services:  defaultServicesConfig(),
		DNS:       DNSConfig{Enabled: true},

		Controllers:       []string{"*"},
		ControllerWorkers: 5,
		LeaderElection:    LeaderElectionConfig{Enabled: true, LeaseDuration: 15 * time.Second},
	}
}

// envKey maps SKIFF_STORE__CA_FILE to store.ca-file: a double underscore
// nests, a single one is a dash.
func envKey(s string) string {
	s = strings.ToLower(strings.TrimPrefix(s, "SKIFF_"))
	s = strings.ReplaceAll(s, "__", ".")
	return strings.ReplaceAll(s, "_", "-")
}

// loadConfig merges, in rising precedence: defaults, the config file (if
// path is set), SKIFF_* environment variables, and flags the user set.
func loadConfig(path string, flags *pflag.FlagSet) (*Config, error) {
	k := koanf.New(".")
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := k.Load(env.Provider("SKIFF_", ".", envKey), nil); err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}
	// Flags carry their own defaults; only flags the user changed override.
	changed := pflag.NewFlagSet("changed", pflag.ContinueOnError)
	flags.Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "config":
		case "agent":
			// --agent is the short form of agent.enabled.
			alias := *f
			alias.Name = "agent.enabled"
			changed.AddFlag(&alias)
		default:
			changed.AddFlag(f)
		}
	})
	if err := k.Load(posflag.Provider(changed, ".", k), nil); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	// SKIFF_CONFIG names the CLI's client config, not a skiffd key.
	k.Delete("config")

	cfg := defaultConfig()
	err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				mapstructure.StringToTimeDurationHookFunc(),
				mapstructure.StringToSliceHookFunc(",")),
			ErrorUnused:      true,
			WeaklyTypedInput: true,
			Result:           &cfg,
			TagName:          "koanf",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("config %s: %w (see conf/skiffd.yaml for every key)", orEnv(path), err)
	}
	return &cfg, cfg.validate()
}

func orEnv(path string) string {
	if path == "" {
		return "(environment and flags)"
	}
	return path
}

func (c *Config) validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("data-dir: must be set, e.g. /var/lib/skiff")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("data-dir: %w", err)
	}
	c.DataDir = abs
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not HOST:PORT (e.g. 127.0.0.1:6443): %v", c.Listen, err)
	}
	if err := apiserver.CheckAdvertiseAddress(c.AdvertiseAddress); err != nil {
		return fmt.Errorf("advertise-address: %w", err)
	}
	for i, ep := range c.Store.Endpoints {
		if !strings.Contains(ep, "://") {
			return fmt.Errorf("store.endpoints[%d]: %q needs a scheme, e.g. http://127.0.0.1:2379", i, ep)
		}
	}
	for _, f := range []struct{ key, path string }{{"store.ca-file", c.Store.CAFile}, {"store.cert-file", c.Store.CertFile}, {"store.key-file", c.Store.KeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s: %v", f.key, err)
		}
	}
	if (c.Store.CertFile == "") != (c.Store.KeyFile == "") {
		return fmt.Errorf("store.cert-file and store.key-file: set both or neither")
	}
	if !strings.HasPrefix(c.Store.Prefix, "/") {
		return fmt.Errorf("store.prefix: %q must start with /", c.Store.Prefix)
	}
	if _, err := planControllers(c); err != nil {
		return err
	}
	if err := c.Network.validate(); err != nil {
		return err
	}
	if err := c.Services.validate(); err != nil {
		return err
	}
	return c.LeaderElection.validate()
}

// advertiseAddress is the IP the API server publishes for pods: the
// configured one, else, when listening on all addresses, the address
// routeIP finds. Otherwise it is "" and the API server decides from the
// socket it bound: a specific IP is published as is, loopback (which no
// pod can reach) publishes nothing and logs how to fix it.
func (c *Config) advertiseAddress(routeIP func() (net.IP, bool)) string {
	if c.AdvertiseAddress != "" {
		return c.AdvertiseAddress
	}
	host, _, _ := net.SplitHostPort(c.Listen)
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return ""
	}
	if ip, ok := routeIP(); ok {
		return ip.String()
	}
	return ""
}
