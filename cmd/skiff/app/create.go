package app

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/core/api"
)

func newCreateCommand(o *options) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "create -f FILE|DIR|- | create deployment|namespace NAME",
		Short: "Create objects from manifests or from flags; existing objects are an error",
		Example: `  skiff create -f web.yaml
  skiff create deployment web --image=nginx:1.25 --replicas=3 --port=80
  skiff create namespace demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			manifests, err := o.readManifests(files)
			if err != nil {
				return err
			}
			return o.createAll(cmd.Context(), manifests)
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "manifest file, directory or - for stdin (repeatable)")
	cmd.AddCommand(newCreateDeploymentCommand(o), newCreateNamespaceCommand(o))
	return cmd
}

func (o *options) createAll(ctx context.Context, manifests []manifest) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	return o.forEach(manifests, func(m manifest) error {
		if _, err := c.Create(ctx, m.obj); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "%s created\n", m.name())
		return nil
	})
}

func newCreateDeploymentCommand(o *options) *cobra.Command {
	var image string
	var replicas, port int32
	cmd := &cobra.Command{
		Use:     "deployment NAME --image=IMAGE [--replicas=N] [--port=PORT]",
		Aliases: []string{"deploy"},
		Short:   "Create a deployment whose pods run one image, labelled app=NAME",
		Args:    exactlyOneName("deployment"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if image == "" {
				return fmt.Errorf("--image is required, e.g. --image=nginx:1.25")
			}
			if replicas < 0 {
				return fmt.Errorf("--replicas: must be >= 0, got %d", replicas)
			}
			d := newDeployment(args[0], o.Namespace(), image, replicas, port)
			return o.createAll(cmd.Context(), []manifest{{obj: d, res: resourceOf(d), source: "flags"}})
		},
	}
	cmd.Flags().StringVar(&image, "image", "", "container image (required)")
	cmd.Flags().Int32Var(&replicas, "replicas", 1, "number of pods")
	cmd.Flags().Int32Var(&port, "port", 0, "container port to expose (0 = none)")
	return cmd
}

// newDeployment builds what `kubectl create deployment` does: labels and
// selector app=NAME, one container named after the image.
func newDeployment(name, namespace, image string, replicas, port int32) *api.Deployment {
	labels := map[string]string{"app": name}
	c := api.Container{Name: containerName(image), Image: image}
	if port > 0 {
		c.Ports = []api.ContainerPort{{ContainerPort: port}}
	}
	return &api.Deployment{
		TypeMeta:   api.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: namespace, Labels: labels},
		Spec: api.DeploymentSpec{
			Replicas: &replicas,
			Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec:       api.PodSpec{Containers: []api.Container{c}},
			},
		},
	}
}

// containerName is the image's last path element without tag or digest:
// "registry.local/team/web:1.2" -> "web".
func containerName(image string) string {
	base := path.Base(image)
	if i := strings.IndexAny(base, ":@"); i > 0 {
		base = base[:i]
	}
	return strings.ToLower(base)
}

func newCreateNamespaceCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:     "namespace NAME",
		Aliases: []string{"ns"},
		Short:   "Create a namespace",
		Args:    exactlyOneName("namespace"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns := &api.Namespace{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: api.ObjectMeta{Name: args[0]}}
			return o.createAll(cmd.Context(), []manifest{{obj: ns, res: resourceOf(ns), source: "flags"}})
		},
	}
}

func exactlyOneName(kind string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("give exactly one %s name, got %d arguments", kind, len(args))
		}
		return nil
	}
}

func resourceOf(obj api.Object) *api.Resource {
	res, _ := api.ResourceFor(obj)
	return res
}
