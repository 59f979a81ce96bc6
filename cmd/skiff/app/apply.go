package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// LastAppliedAnnotation holds the manifest apply last sent, so the next
// apply knows which fields it owns and can remove the ones dropped from the
// manifest without touching fields controllers set.
const LastAppliedAnnotation = "skiff.io/last-applied-configuration"

func newApplyCommand(o *options) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update objects from manifests",
		Long: "Create objects that do not exist and update those that do with a three-way merge: fields removed\n" +
			"from the manifest since the last apply are removed, fields set by others are kept.",
		Example: `  skiff apply -f web.yaml
  skiff apply -f manifests/
  cat web.yaml | skiff apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.apply(cmd.Context(), files) },
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "manifest file, directory or - for stdin (repeatable)")
	return cmd
}

func (o *options) apply(ctx context.Context, files []string) error {
	manifests, err := o.readManifests(files)
	if err != nil {
		return err
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	return o.forEach(manifests, func(m manifest) error {
		result, err := applyOne(ctx, c, m)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "%s %s\n", m.name(), result)
		return nil
	})
}

// forEach runs fn on each manifest; a failure is reported and the others
// still run, as kubectl does. The error says whether any failed.
func (o *options) forEach(manifests []manifest, fn func(manifest) error) error {
	failed := false
	for _, m := range manifests {
		if err := fn(m); err != nil {
			fmt.Fprintln(o.ErrOut, FormatError(err))
			failed = true
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// applyOne creates or patches one object and says which it did: created,
// configured or unchanged.
//
// The applied configuration is the manifest without what the server owns
// (status, uid, resourceVersion, timestamps), so `get -o yaml` output
// applies back as unchanged. "unchanged" means the three-way patch of the
// content is empty; only then is the annotation left as it is.
func applyOne(ctx context.Context, c *client.Client, m manifest) (string, error) {
	meta := m.obj.GetObjectMeta()
	// Merge patches replace lists whole, so the manifest gets the server's
	// defaults first: otherwise a defaulted field inside a list (a port's
	// protocol) would make every apply rewrite the list.
	defaulted := api.DeepCopy(m.obj)
	api.SetDefaults(defaulted)
	applied, err := appliedConfig(defaulted)
	if err != nil {
		return "", err
	}
	current, err := c.Get(ctx, m.res, meta.Namespace, meta.Name)
	if api.IsNotFound(err) {
		obj := m.res.NewObject()
		if err := json.Unmarshal(applied, obj); err != nil {
			return "", err
		}
		setAnnotation(obj.GetObjectMeta(), LastAppliedAnnotation, string(applied))
		if _, err := c.Create(ctx, obj); err != nil {
			return "", err
		}
		return "created", nil
	}
	if err != nil {
		return "", err
	}
	currentJSON, err := appliedConfig(current)
	if err != nil {
		return "", err
	}
	original := []byte(current.GetObjectMeta().Annotations[LastAppliedAnnotation])
	patch, err := jsonmergepatch.CreateThreeWayJSONMergePatch(original, applied, currentJSON)
	if err != nil {
		return "", fmt.Errorf("%s: compute the patch for %s: %w", m.source, m.name(), err)
	}
	if string(patch) == "{}" {
		return "unchanged", nil
	}
	var patchMap map[string]any
	if err := json.Unmarshal(patch, &patchMap); err != nil {
		return "", err
	}
	md, _ := patchMap["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		patchMap["metadata"] = md
	}
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		md["annotations"] = ann
	}
	ann[LastAppliedAnnotation] = string(applied)
	if patch, err = json.Marshal(patchMap); err != nil {
		return "", err
	}
	if _, err := c.Patch(ctx, m.res, meta.Namespace, meta.Name, patch); err != nil {
		return "", err
	}
	return "configured", nil
}

// serverOwnedMetadata are metadata fields the server sets; apply neither
// sends nor records them.
var serverOwnedMetadata = []string{
	"uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
	"deletionGracePeriodSeconds", "managedFields", "selfLink",
}

// appliedConfig is obj's JSON without status, server-owned metadata and the
// last-applied annotation.
func appliedConfig(obj api.Object) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s %q: %w", obj.GetTypeMeta().Kind, obj.GetObjectMeta().Name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		for _, k := range serverOwnedMetadata {
			delete(md, k)
		}
		if ann, ok := md["annotations"].(map[string]any); ok {
			delete(ann, LastAppliedAnnotation)
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	return json.Marshal(m)
}

func setAnnotation(meta *api.ObjectMeta, key, value string) {
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[key] = value
}
