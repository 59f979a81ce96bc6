package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/skiff-sh/skiff/core/api"
)

// ListOptions narrow and page a list. The selectors use the Kubernetes string
// forms: "app=web,tier!=db", "status.phase=Running".
type ListOptions struct {
	LabelSelector string
	FieldSelector string
	// Limit caps the items per page (0 = all); Continue resumes from the
	// token of a previous page.
	Limit    int64
	Continue string
}

// ListResult is one page of a list.
type ListResult struct {
	Items []api.Object
	// ResourceVersion is the revision the list reflects: watch from it.
	ResourceVersion string
	// Continue is set when more items remain.
	Continue           string
	RemainingItemCount *int64
}

// DeleteOptions say how a delete cascades and what it must match.
type DeleteOptions struct {
	// PropagationPolicy is Orphan, Background or Foreground ("" = server default).
	PropagationPolicy  string         `json:"propagationPolicy,omitempty"`
	GracePeriodSeconds *int64         `json:"gracePeriodSeconds,omitempty"`
	Preconditions      *Preconditions `json:"preconditions,omitempty"`
}

// Preconditions must hold for a delete to happen (else Conflict).
type Preconditions struct {
	UID             *string `json:"uid,omitempty"`
	ResourceVersion *string `json:"resourceVersion,omitempty"`
}

// Propagation policies of DeleteOptions.
const (
	PropagationOrphan     = "Orphan"
	PropagationBackground = "Background"
	PropagationForeground = "Foreground"
)

// ResourcePath is the URL path of a resource's collection or of one object
// and its subresource: /api/v1/namespaces/ns/pods/name/status. name and
// subresource may be empty; namespace is ignored for cluster-scoped resources.
func ResourcePath(res *api.Resource, namespace, name, subresource string) string {
	p := "/api/" + res.Version
	if res.Group != "" {
		p = "/apis/" + res.Group + "/" + res.Version
	}
	if res.Namespaced && namespace != "" {
		p += "/namespaces/" + url.PathEscape(namespace)
	}
	p += "/" + res.Plural
	if name != "" {
		p += "/" + url.PathEscape(name)
		if subresource != "" {
			p += "/" + subresource
		}
	}
	return p
}

// objectPath is the path of obj's resource with checks a server would
// otherwise reject less clearly.
func objectPath(obj api.Object, named bool, subresource string) (*api.Resource, string, error) {
	res, ok := api.ResourceFor(obj)
	if !ok {
		return nil, "", fmt.Errorf("%T is not a kind the API serves", obj)
	}
	meta := obj.GetObjectMeta()
	if res.Namespaced && meta.Namespace == "" {
		return nil, "", fmt.Errorf("%s %q: metadata.namespace: must be set for a namespaced object", res.Singular, meta.Name)
	}
	name := ""
	if named {
		if meta.Name == "" {
			return nil, "", fmt.Errorf("%s: metadata.name: must be set", res.Singular)
		}
		name = meta.Name
	}
	return res, ResourcePath(res, meta.Namespace, name, subresource), nil
}

// Get reads one object. Cluster-scoped resources take namespace "".
func (c *Client) Get(ctx context.Context, res *api.Resource, namespace, name string) (api.Object, error) {
	if name == "" {
		return nil, fmt.Errorf("get %s: name must be set", res.Plural)
	}
	obj := res.NewObject()
	if err := c.call(ctx, request{method: http.MethodGet, path: ResourcePath(res, namespace, name, "")}, obj); err != nil {
		return nil, err
	}
	return withTypeMeta(res, obj), nil
}

// List reads objects of res in one namespace, or in all when namespace is "".
func (c *Client) List(ctx context.Context, res *api.Resource, namespace string, opts ListOptions) (*ListResult, error) {
	q := url.Values{}
	setIf(q, "labelSelector", opts.LabelSelector)
	setIf(q, "fieldSelector", opts.FieldSelector)
	setIf(q, "continue", opts.Continue)
	if opts.Limit > 0 {
		q.Set("limit", strconv.FormatInt(opts.Limit, 10))
	}
	var list struct {
		Metadata api.ListMeta      `json:"metadata"`
		Items    []json.RawMessage `json:"items"`
	}
	if err := c.call(ctx, request{method: http.MethodGet, path: ResourcePath(res, namespace, "", ""), query: q}, &list); err != nil {
		return nil, err
	}
	out := &ListResult{
		Items:              make([]api.Object, 0, len(list.Items)),
		ResourceVersion:    list.Metadata.ResourceVersion,
		Continue:           list.Metadata.Continue,
		RemainingItemCount: list.Metadata.RemainingItemCount,
	}
	for i, raw := range list.Items {
		obj := res.NewObject()
		if err := json.Unmarshal(raw, obj); err != nil {
			return nil, fmt.Errorf("list %s: item %d: %w", res.GroupResource(), i, err)
		}
		out.Items = append(out.Items, withTypeMeta(res, obj))
	}
	return out, nil
}

// Create stores a new object; its namespace comes from its metadata.
func (c *Client) Create(ctx context.Context, obj api.Object) (api.Object, error) {
	res, path, err := objectPath(obj, false, "")
	if err != nil {
		return nil, err
	}
	return c.send(ctx, res, http.MethodPost, path, obj, "")
}

// Update replaces an object. A set metadata.resourceVersion must match the
// stored one (else a Conflict error).
func (c *Client) Update(ctx context.Context, obj api.Object) (api.Object, error) {
	res, path, err := objectPath(obj, true, "")
	if err != nil {
		return nil, err
	}
	return c.send(ctx, res, http.MethodPut, path, obj, "")
}

// UpdateStatus replaces an object's status through the status subresource.
func (c *Client) UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error) {
	res, path, err := objectPath(obj, true, "status")
	if err != nil {
		return nil, err
	}
	return c.send(ctx, res, http.MethodPut, path, obj, "")
}

// Patch applies a JSON merge patch (RFC 7386) to an object or, with
// subresource, to one of its subresources ("status").
func (c *Client) Patch(ctx context.Context, res *api.Resource, namespace, name string, mergePatch []byte, subresource ...string) (api.Object, error) {
	sub := ""
	if len(subresource) > 0 {
		sub = subresource[0]
	}
	if !json.Valid(mergePatch) {
		return nil, fmt.Errorf("patch %s %q: the merge patch is not valid JSON", res.GroupResource(), name)
	}
	return c.send(ctx, res, http.MethodPatch, ResourcePath(res, namespace, name, sub), mergePatch, "application/merge-patch+json")
}

// Delete removes an object. An object with finalizers stays, marked with a
// deletionTimestamp, until they are cleared.
func (c *Client) Delete(ctx context.Context, res *api.Resource, namespace, name string, opts DeleteOptions) error {
	body := struct {
		api.TypeMeta `json:",inline"`
		DeleteOptions
	}{api.TypeMeta{APIVersion: "v1", Kind: "DeleteOptions"}, opts}
	return c.call(ctx, request{method: http.MethodDelete, path: ResourcePath(res, namespace, name, ""), body: body}, nil)
}

// GetScale reads the scale subresource of a Deployment, ReplicaSet or StatefulSet.
func (c *Client) GetScale(ctx context.Context, res *api.Resource, namespace, name string) (*api.Scale, error) {
	var scale api.Scale
	if err := c.call(ctx, request{method: http.MethodGet, path: ResourcePath(res, namespace, name, "scale")}, &scale); err != nil {
		return nil, err
	}
	return &scale, nil
}

// UpdateScale sets the replicas of a scalable object. A set
// scale.metadata.resourceVersion must match the object's.
func (c *Client) UpdateScale(ctx context.Context, res *api.Resource, namespace, name string, scale *api.Scale) (*api.Scale, error) {
	if scale.APIVersion == "" {
		scale.TypeMeta = api.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"}
	}
	if scale.Name == "" {
		scale.Name, scale.Namespace = name, namespace
	}
	var out api.Scale
	if err := c.call(ctx, request{method: http.MethodPut, path: ResourcePath(res, namespace, name, "scale"), body: scale}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Bind assigns a pod to a node through the pods/binding subresource; it
// fails with Conflict if the pod is already bound.
func (c *Client) Bind(ctx context.Context, namespace, pod, node string) error {
	res, _ := api.ResourceForKind("Pod")
	binding := &api.Binding{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Binding"},
		ObjectMeta: api.ObjectMeta{Name: pod, Namespace: namespace},
		Target:     api.ObjectReference{Kind: "Node", Name: node, APIVersion: "v1"},
	}
	return c.call(ctx, request{method: http.MethodPost, path: ResourcePath(res, namespace, pod, "binding"), body: binding}, nil)
}

// send writes body and decodes the object the server returns.
func (c *Client) send(ctx context.Context, res *api.Resource, method, path string, body any, contentType string) (api.Object, error) {
	out := res.NewObject()
	if err := c.call(ctx, request{method: method, path: path, body: body, contentType: contentType}, out); err != nil {
		return nil, err
	}
	return withTypeMeta(res, out), nil
}

// withTypeMeta fills apiVersion and kind, which list items may omit.
func withTypeMeta(res *api.Resource, obj api.Object) api.Object {
	tm := obj.GetTypeMeta()
	if tm.Kind == "" {
		*tm = api.TypeMeta{APIVersion: res.APIVersion(), Kind: res.Kind}
	}
	return obj
}

func setIf(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}
