// Command process-controller is an example controller run by skiffd as a
// go-plugin process: it keeps each Deployment's skiff.io/owner annotation
// equal to its Namespace's owner label (see README.md).
package main

import (
	"context"

	"github.com/skiff-sh/skiff/core/plugin/controllerproc"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/examples/process-controller/ownerlabel"
)

func main() {
	controllerproc.Serve("owner-label", func(ctx context.Context, env *controllerproc.Env) error {
		var args ownerlabel.Args
		if err := env.DecodeArgs(&args); err != nil {
			return err
		}
		return env.RunControllers(ctx, 2, map[string]reconcile.Factory{env.Name: ownerlabel.Factory(env.Name, args)})
	})
}
