package app

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func newScaleCommand(o *options) *cobra.Command {
	var replicas, current int32
	cmd := &cobra.Command{
		Use:   "scale TYPE/NAME --replicas=N | scale TYPE NAME --replicas=N",
		Short: "Set the replicas of a deployment, replica set or stateful set",
		Example: `  skiff scale deployment/web --replicas=5
  skiff scale sts db --replicas=3 --current-replicas=1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("replicas") {
				return fmt.Errorf("--replicas is required")
			}
			return o.scale(cmd.Context(), args, replicas, current)
		},
	}
	cmd.Flags().Int32Var(&replicas, "replicas", 0, "the new number of replicas (required)")
	cmd.Flags().Int32Var(&current, "current-replicas", -1, "scale only if the current replicas are this many")
	return cmd
}

func (o *options) scale(ctx context.Context, args []string, replicas, current int32) error {
	if replicas < 0 {
		return fmt.Errorf("--replicas: must be >= 0, got %d", replicas)
	}
	res, name, err := oneTarget(args, "scale")
	if err != nil {
		return err
	}
	if !res.HasSubresource("scale") {
		return fmt.Errorf("%s cannot be scaled; scalable types: deployments, replicasets, statefulsets", res.Plural)
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	ns := namespaceFor(res, o.Namespace())
	scale, err := c.GetScale(ctx, res, ns, name)
	if err != nil {
		return err
	}
	if current >= 0 && scale.Spec.Replicas != current {
		return fmt.Errorf("%s/%s has %d replicas, not %d (--current-replicas); nothing changed", res.TypeName(), name, scale.Spec.Replicas, current)
	}
	// The resourceVersion read makes this a compare-and-swap.
	scale.Spec.Replicas = replicas
	if _, err := c.UpdateScale(ctx, res, ns, name, scale); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "%s/%s scaled\n", res.TypeName(), name)
	return nil
}
