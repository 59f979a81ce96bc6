package app

import (
	"context"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/core/client"
)

func newVersionCommand(o *options) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client and server versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(o.Out, "Client Version: %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if clientOnly {
				return nil
			}
			v, err := o.serverVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(o.Out, "Server Version: %s\n", v.GitVersion)
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print the client version only")
	return cmd
}

func (o *options) serverVersion(ctx context.Context) (*client.VersionInfo, error) {
	c, err := o.Client()
	if err != nil {
		return nil, err
	}
	return c.ServerVersion(ctx)
}

func newClusterInfoCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "cluster-info",
		Short: "Print where the API server is and whether it answers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := o.serverVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(o.Out, "skiff API server is running at %s (version %s)\n", o.client.Server(), v.GitVersion)
			return nil
		},
	}
}
