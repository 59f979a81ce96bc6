// Package app assembles skiffd: configuration, the control plane and the
// node agent, and the set of builtin plugins.
package app

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// NewCommand returns skiffd's root command.
func NewCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "skiffd",
		Short:         "skiff's daemon: the control plane (server) and the node agent (agent)",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newServerCommand())
	root.AddCommand(newAgentCommand())
	return root
}

// Main runs skiffd until SIGINT or SIGTERM, then shuts down cleanly.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := NewCommand().ExecuteContext(ctx); err != nil {
		return 1
	}
	return 0
}
