package client

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// Config is the client configuration file (DATA_DIR/admin.conf and
// ~/.skiff/config): where the API server is and how to trust and reach it.
type Config struct {
	// Server is the API server's base URL, e.g. https://127.0.0.1:6443.
	Server string `json:"server"`
	// CertificateAuthorityData is the PEM of the CA that signed the server's
	// certificate.
	CertificateAuthorityData string `json:"certificate-authority-data"`
	// Token is the bearer token sent with every request.
	Token string `json:"token"`
}

// LoadConfig reads a client config file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read client config: %w", err)
	}
	var cfg Config
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("client config %s: %w", path, err)
	}
	if cfg.Server == "" {
		return nil, fmt.Errorf("client config %s: server: must be set (e.g. https://127.0.0.1:6443)", path)
	}
	return &cfg, nil
}

// WriteConfig writes cfg to path with owner-only permissions, creating the
// directory if needed.
func WriteConfig(path string, cfg *Config) error {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// DefaultConfigPath is $SKIFF_CONFIG, else ~/.skiff/config.
func DefaultConfigPath() string {
	if p := os.Getenv("SKIFF_CONFIG"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".skiff/config"
	}
	return filepath.Join(home, ".skiff", "config")
}
