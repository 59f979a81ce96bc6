package app

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/core/api"
)

func newSetCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set SUBCOMMAND",
		Short: "Change a field of existing objects",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSetImageCommand(o))
	return cmd
}

func newSetImageCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "image TYPE/NAME... CONTAINER=IMAGE...",
		Short: "Change the image of containers in a pod template (deployments, daemon sets, stateful sets, replica sets)",
		Long: `Change container images in the pod template of workloads. CONTAINER names a
container or init container; * means every container. A deployment, daemon
set or stateful set rolls the change out; a replica set only uses it for new
pods.`,
		Example: `  skiff set image deploy/web main=nginx:1.27
  skiff set image deploy/web main=nginx:1.27 sidecar=envoy:1.30
  skiff set image ds/agent '*=agent:2'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.setImage(cmd.Context(), args)
		},
	}
}

// splitImageArgs separates the objects from the CONTAINER=IMAGE pairs.
func splitImageArgs(args []string) (objects []string, images map[string]string, err error) {
	images = map[string]string{}
	for _, a := range args {
		name, image, ok := strings.Cut(a, "=")
		if !ok {
			objects = append(objects, a)
			continue
		}
		if name == "" || image == "" {
			return nil, nil, fmt.Errorf("argument %q: expected CONTAINER=IMAGE, e.g. main=nginx:1.27", a)
		}
		if _, dup := images[name]; dup {
			return nil, nil, fmt.Errorf("container %q is given more than once", name)
		}
		images[name] = image
	}
	if len(images) == 0 {
		return nil, nil, fmt.Errorf("give at least one CONTAINER=IMAGE, e.g. 'skiff set image deploy/web main=nginx:1.27'")
	}
	return objects, images, nil
}

func (o *options) setImage(ctx context.Context, args []string) error {
	objects, images, err := splitImageArgs(args)
	if err != nil {
		return err
	}
	ts, err := parseTargets(objects)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if len(t.names) == 0 {
			return fmt.Errorf("set image: name the %s to change, e.g. %s/NAME", t.res.Plural, t.res.Singular)
		}
		if err := checkKind(t.res, "set image", withTemplates); err != nil {
			return err
		}
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	failed := false
	for _, t := range ts {
		for _, name := range t.names {
			_, err := updateObject(ctx, c, t.res, namespaceFor(t.res, o.Namespace()), name, func(obj api.Object) error {
				tmpl, err := podTemplateOf(obj)
				if err != nil {
					return err
				}
				return setImages(tmpl, images, fmt.Sprintf("%s %q", t.res.Singular, name))
			})
			if err != nil {
				// Each object succeeds or fails on its own, as kubectl does.
				fmt.Fprintln(o.ErrOut, FormatError(err))
				failed = true
				continue
			}
			fmt.Fprintf(o.Out, "%s/%s image updated\n", t.res.TypeName(), name)
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// setImages changes the images of the named containers (init containers
// too; "*" is every container). A name matching no container is an error
// and changes nothing.
func setImages(t *api.PodTemplateSpec, images map[string]string, what string) error {
	all, hasAll := images["*"]
	found := map[string]bool{}
	var names []string
	for _, list := range []*[]api.Container{&t.Spec.InitContainers, &t.Spec.Containers} {
		for i := range *list {
			c := &(*list)[i]
			names = append(names, c.Name)
			if image, ok := images[c.Name]; ok {
				c.Image = image
				found[c.Name] = true
			} else if hasAll {
				c.Image = all
			}
		}
	}
	var missing []string
	for name := range images {
		if name != "*" && !found[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("%s: no container named %s; its containers: %s", what, strings.Join(quoteAll(missing), ", "), strings.Join(names, ", "))
	}
	return nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}
