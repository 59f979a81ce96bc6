package app

import (
	"context"
	"encoding/json"
	"log/slog"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/apiserver"
	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/sdk/admission"
)

// pluginAdmitter runs one admission plugin of the host in the API server's
// chain: the object goes to the plugin as JSON, a denial becomes 403
// Forbidden with the plugin's reason, and a JSON merge patch the plugin
// returns is applied to the object before the next admitter sees it.
type pluginAdmitter struct {
	p   *plugin.Plugin
	log *slog.Logger
}

var (
	_ apiserver.Admitter      = pluginAdmitter{}
	_ apiserver.NamedAdmitter = pluginAdmitter{}
)

// admitters returns the host's admission plugins, in configuration order.
func admitters(host *plugin.Host, log *slog.Logger) []apiserver.Admitter {
	var out []apiserver.Admitter
	for _, p := range host.Admitters() {
		out = append(out, pluginAdmitter{p: p, log: log})
	}
	return out
}

func (a pluginAdmitter) Name() string { return a.p.Name() }

// Admit implements apiserver.Admitter. Writes to subresources (status,
// scale, binding) are not sent: the contract's request names the object's
// kind, and a Binding or Scale body is not that kind.
func (a pluginAdmitter) Admit(ctx context.Context, req apiserver.AdmissionRequest) (api.Object, error) {
	if req.Subresource != "" {
		return nil, nil
	}
	in := &admission.Request{Operation: string(req.Operation), Kind: req.Resource.Kind, Namespace: req.Namespace,
		Name: req.Name, User: req.User.Name}
	var err error
	if in.Object, err = marshalObject(req.Object); err != nil {
		return nil, err
	}
	if in.OldObject, err = marshalObject(req.OldObject); err != nil {
		return nil, err
	}
	resp, err := a.p.Admit(ctx, in)
	if err != nil {
		// The plugin failed under fail-closed: the request is refused, but
		// as the server's failure, not as the plugin's verdict.
		return nil, api.NewStatus(api.ReasonInternalError, "admission plugin %q failed, %s of %s %q refused: %v",
			a.p.Name(), req.Operation, req.Resource.GroupResource(), req.Name, err)
	}
	for _, w := range resp.Warnings {
		a.log.Info("admission warning", "plugin", a.p.Name(), "operation", req.Operation,
			"resource", req.Resource.GroupResource(), "namespace", req.Namespace, "name", req.Name, "warning", w)
	}
	if !resp.Allowed {
		reason := resp.Reason
		if reason == "" {
			reason = "no reason given"
		}
		return nil, api.NewStatus(api.ReasonForbidden, "admission plugin %q denied the request: %s", a.p.Name(), reason)
	}
	if len(resp.Patch) == 0 || req.Object == nil {
		return nil, nil
	}
	return a.patch(req, in.Object, resp.Patch)
}

// patch applies the plugin's merge patch, refusing one that renames the
// object or changes its kind: the URL and the stored key say what it is.
func (a pluginAdmitter) patch(req apiserver.AdmissionRequest, doc, patch []byte) (api.Object, error) {
	patched, err := jsonpatch.MergePatch(doc, patch)
	if err != nil {
		return nil, api.NewStatus(api.ReasonInternalError, "admission plugin %q returned a patch that is not a JSON merge patch: %v", a.p.Name(), err)
	}
	out := req.Resource.NewObject()
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, api.NewStatus(api.ReasonInternalError, "admission plugin %q: the patched %s does not decode: %v", a.p.Name(), req.Resource.Kind, err)
	}
	before, after := req.Object.GetObjectMeta(), out.GetObjectMeta()
	if after.Name != before.Name || after.Namespace != before.Namespace || out.GetTypeMeta().Kind != req.Object.GetTypeMeta().Kind {
		return nil, api.NewStatus(api.ReasonInternalError, "admission plugin %q: its patch may not change the kind, name or namespace of %s %q",
			a.p.Name(), req.Resource.Kind, req.Name)
	}
	return out, nil
}

func marshalObject(obj api.Object) ([]byte, error) {
	if obj == nil {
		return nil, nil
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, api.NewStatus(api.ReasonInternalError, "admission: encoding %s: %v", obj.GetTypeMeta().Kind, err)
	}
	return b, nil
}
