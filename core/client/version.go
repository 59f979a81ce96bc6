package client

import (
	"context"
	"net/http"
)

// VersionInfo is what the server reports at /version (Kubernetes' shape).
type VersionInfo struct {
	GitVersion string `json:"gitVersion"`
	GitCommit  string `json:"gitCommit,omitempty"`
	GoVersion  string `json:"goVersion,omitempty"`
	Platform   string `json:"platform,omitempty"`
}

// ServerVersion asks the server for its version.
func (c *Client) ServerVersion(ctx context.Context) (*VersionInfo, error) {
	var v VersionInfo
	if err := c.call(ctx, request{method: http.MethodGet, path: "/version"}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}
