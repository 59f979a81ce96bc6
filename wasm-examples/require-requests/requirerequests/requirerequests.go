// Package requirerequests is an admission policy: it rejects pods whose
// containers do not request cpu and memory (the scheduler cannot place
// them sensibly), and adds default labels missing from a pod.
package requirerequests

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/admission"
)

// Descriptor names the policy.
var Descriptor = sdk.NewDescriptor("require-requests", sdk.PointAdmission)

// Config is the policy's args.
type Config struct {
	// Resources every container must request (default cpu and memory).
	Resources []string `json:"resources"`
	// DefaultLabels are added to pods that do not set them.
	DefaultLabels map[string]string `json:"defaultLabels"`
}

// RequireRequests is the configured policy.
type RequireRequests struct{ cfg Config }

var _ admission.Plugin = (*RequireRequests)(nil)

// New is the policy's factory.
func New(args sdk.Args, _ sdk.Handle) (any, error) {
	cfg := Config{Resources: []string{"cpu", "memory"}}
	if err := args.Decode(&cfg); err != nil {
		return nil, err
	}
	return &RequireRequests{cfg: cfg}, nil
}

// pod is the part of a Pod the policy reads.
type pod struct {
	Metadata struct {
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Containers []struct {
			Name      string `json:"name"`
			Resources struct {
				Requests map[string]json.RawMessage `json:"requests"`
			} `json:"resources"`
		} `json:"containers"`
	} `json:"spec"`
}

// Admit implements admission.Plugin.
func (r *RequireRequests) Admit(_ context.Context, req *admission.Request) (*admission.Response, error) {
	if req.Kind != "Pod" || (req.Operation != admission.Create && req.Operation != admission.Update) {
		return admission.Allow(), nil
	}
	var p pod
	if err := json.Unmarshal(req.Object, &p); err != nil {
		return nil, fmt.Errorf("decoding pod %s/%s: %w", req.Namespace, req.Name, err)
	}
	for _, c := range p.Spec.Containers {
		for _, res := range r.cfg.Resources {
			if _, ok := c.Resources.Requests[res]; !ok {
				return admission.Deny(fmt.Sprintf("pod %q: container %q: resources.requests.%s: must be set (this cluster requires %v requests so that pods can be scheduled)",
					req.Name, c.Name, res, r.cfg.Resources)), nil
			}
		}
	}
	missing := map[string]string{}
	for k, v := range r.cfg.DefaultLabels {
		if _, ok := p.Metadata.Labels[k]; !ok {
			missing[k] = v
		}
	}
	if len(missing) == 0 {
		return admission.Allow(), nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": missing}})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(missing))
	for k := range missing {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return &admission.Response{Allowed: true, Patch: patch, Warnings: []string{fmt.Sprintf("added default labels %v", keys)}}, nil
}
