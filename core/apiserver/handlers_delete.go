package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/store"
)

// Finalizers the API server adds on delete. The garbage collector acts on
// the first two; the node agent on the third.
const (
	FinalizerForeground = "foregroundDeletion"
	FinalizerOrphan     = "orphan"
	// FinalizerPodTermination keeps a pod bound to a node after a graceful
	// DELETE: it has a deletionTimestamp and deletionGracePeriodSeconds, so
	// the node agent stops its containers and then deletes it again with
	// gracePeriodSeconds=0, which removes this finalizer and so the pod.
	FinalizerPodTermination = "skiff.sh/pod-termination"
	// FinalizerNamespace keeps a deleted namespace (Terminating) until the
	// namespace controller has deleted its contents and removed it.
	FinalizerNamespace = "kubernetes"
)

// defaultPodGracePeriod is used when neither the request nor the pod sets one.
const defaultPodGracePeriod int64 = 30

// deleteOptions is the Kubernetes DeleteOptions body.
type deleteOptions struct {
	Kind               string `json:"kind,omitempty"`
	APIVersion         string `json:"apiVersion,omitempty"`
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
	Preconditions      *struct {
		UID             *string `json:"uid,omitempty"`
		ResourceVersion *string `json:"resourceVersion,omitempty"`
	} `json:"preconditions,omitempty"`
	PropagationPolicy *string  `json:"propagationPolicy,omitempty"`
	OrphanDependents  *bool    `json:"orphanDependents,omitempty"`
	DryRun            []string `json:"dryRun,omitempty"`
}

// parseDeleteOptions reads DeleteOptions from the body, else the query.
func parseDeleteOptions(w http.ResponseWriter, r *http.Request) (*deleteOptions, error) {
	opts := &deleteOptions{}
	data, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	if len(data) > 0 {
		if data, err = bodyJSON(r, data); err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(opts); err != nil {
			return nil, badRequest("DeleteOptions: %v", err)
		}
	}
	q := r.URL.Query()
	if g := q.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil || n < 0 {
			return nil, badRequest("gracePeriodSeconds: must be a non-negative integer, got %q", g)
		}
		opts.GracePeriodSeconds = &n
	}
	if p := q.Get("propagationPolicy"); p != "" {
		opts.PropagationPolicy = &p
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		return nil, badRequest("gracePeriodSeconds: must be >= 0, got %d", *opts.GracePeriodSeconds)
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case "Orphan", "Background", "Foreground":
		default:
			return nil, badRequest("propagationPolicy: must be Orphan, Background or Foreground, got %q", *opts.PropagationPolicy)
		}
	} else if opts.OrphanDependents != nil && *opts.OrphanDependents {
		opts.PropagationPolicy = new("Orphan")
	}
	return opts, nil
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	opts, err := parseDeleteOptions(w, r)
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	out, err := s.delete(r.Context(), ri, opts)
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	code := http.StatusOK
	if len(out.GetObjectMeta().Finalizers) > 0 {
		code = http.StatusAccepted // kept until its finalizers are done
	}
	writeObject(w, code, ri.res, out)
}

func (s *Server) delete(ctx context.Context, ri *requestInfo, opts *deleteOptions) (api.Object, error) {
	old, err := s.store.Get(ctx, ri.res, ri.namespace, ri.name)
	if err != nil {
		return nil, err
	}
	if _, err := s.admit(ctx, OpDelete, ri, "", ri.name, nil, old); err != nil {
		return nil, err
	}
	so := store.DeleteOptions{GracePeriodSeconds: opts.GracePeriodSeconds}
	if p := opts.Preconditions; p != nil {
		if p.UID != nil {
			so.UID = *p.UID
		}
		if p.ResourceVersion != nil {
			so.ResourceVersion = *p.ResourceVersion
		}
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case "Foreground":
			so.AddFinalizers = append(so.AddFinalizers, FinalizerForeground)
		case "Orphan":
			so.AddFinalizers = append(so.AddFinalizers, FinalizerOrphan)
		}
	}
	switch obj := old.(type) {
	case *api.Namespace:
		so.AddFinalizers = append(so.AddFinalizers, FinalizerNamespace)
		s.noteNamespaceDeleted(obj.Name)
	case *api.Pod:
		if obj.Spec.NodeName != "" && !api.IsPodTerminal(obj) {
			grace := defaultPodGracePeriod
			switch {
			case opts.GracePeriodSeconds != nil:
				grace = *opts.GracePeriodSeconds
			case obj.Spec.TerminationGracePeriodSeconds != nil:
				grace = *obj.Spec.TerminationGracePeriodSeconds
			}
			so.GracePeriodSeconds = &grace
			if grace > 0 {
				so.AddFinalizers = append(so.AddFinalizers, FinalizerPodTermination)
			}
		}
		if so.GracePeriodSeconds != nil && *so.GracePeriodSeconds == 0 && slices.Contains(obj.Finalizers, FinalizerPodTermination) {
			return s.finishPodTermination(ctx, ri, so)
		}
	}
	out, err := s.store.Delete(ctx, ri.res, ri.namespace, ri.name, so)
	s.serviceDeleted(ctx, out, err)
	return out, err
}

// finishPodTermination handles the node agent's final DELETE
// (gracePeriodSeconds=0) of a pod it has stopped: it drops the termination
// finalizer, which lets the store remove the pod unless other finalizers
// remain.
func (s *Server) finishPodTermination(ctx context.Context, ri *requestInfo, so store.DeleteOptions) (api.Object, error) {
	out, err := s.store.GuaranteedUpdate(ctx, ri.res, ri.namespace, ri.name, func(obj api.Object) error {
		meta := obj.GetObjectMeta()
		if so.UID != "" && so.UID != meta.UID {
			return &preconditionError{api.Conflict(ri.res, ri.name)}
		}
		if so.ResourceVersion != "" && so.ResourceVersion != meta.ResourceVersion {
			return &preconditionError{api.Conflict(ri.res, ri.name)}
		}
		meta.Finalizers = slices.DeleteFunc(meta.Finalizers, func(f string) bool { return f == FinalizerPodTermination })
		return nil
	})
	if err != nil {
		return nil, unwrapPrecondition(err)
	}
	if out.GetObjectMeta().DeletionTimestamp == nil {
		// The finalizer was set by hand, not by a graceful delete: delete now.
		return s.store.Delete(ctx, ri.res, ri.namespace, ri.name, so)
	}
	return out, nil
}
