package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/store"
)

// preconditionError carries a Status out of a store.GuaranteedUpdate mutate
// function without looking like a Conflict to the store, which would retry.
type preconditionError struct{ st *api.Status }

func (e *preconditionError) Error() string { return e.st.Message }

func unwrapPrecondition(err error) error {
	if pe, ok := err.(*preconditionError); ok {
		return pe.st
	}
	return err
}

// serveStatus serves GET/PUT/PATCH of {resource}/status.
func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request, ri *requestInfo, verb string) {
	switch verb {
	case "GET":
		s.serveGet(w, r, ri)
	case "UPDATE":
		s.serveUpdate(w, r, ri)
	case "PATCH":
		s.servePatch(w, r, ri)
	default:
		writeStatus(w, r, methodNotAllowed(r, "GET, PUT, PATCH"))
	}
}

var scaleTypeMeta = api.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"}

// scaleOf is the autoscaling/v1 Scale view of a Deployment, ReplicaSet or
// StatefulSet.
func scaleOf(obj api.Object) (*api.Scale, error) {
	var replicas *int32
	var current int32
	var selector *api.LabelSelector
	switch o := obj.(type) {
	case *api.Deployment:
		replicas, current, selector = o.Spec.Replicas, o.Status.Replicas, o.Spec.Selector
	case *api.ReplicaSet:
		replicas, current, selector = o.Spec.Replicas, o.Status.Replicas, o.Spec.Selector
	case *api.StatefulSet:
		replicas, current, selector = o.Spec.Replicas, o.Status.Replicas, o.Spec.Selector
	default:
		return nil, fmt.Errorf("%T has no scale subresource", obj)
	}
	meta := obj.GetObjectMeta()
	sc := &api.Scale{TypeMeta: scaleTypeMeta, ObjectMeta: api.ObjectMeta{
		Name: meta.Name, Namespace: meta.Namespace, UID: meta.UID,
		ResourceVersion: meta.ResourceVersion, CreationTimestamp: meta.CreationTimestamp,
	}}
	if replicas != nil {
		sc.Spec.Replicas = *replicas
	}
	sc.Status.Replicas = current
	if selector != nil {
		sc.Status.Selector = api.LabelSelectorString(selector)
	}
	return sc, nil
}

func setReplicas(obj api.Object, n int32) {
	switch o := obj.(type) {
	case *api.Deployment:
		o.Spec.Replicas = &n
	case *api.ReplicaSet:
		o.Spec.Replicas = &n
	case *api.StatefulSet:
		o.Spec.Replicas = &n
	}
}

// serveScale serves GET/PUT/PATCH of {deployments,replicasets,statefulsets}/scale.
func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, ri *requestInfo, verb string) {
	var build func(old api.Object) (api.Object, bool, error)
	switch verb {
	case "GET":
		obj, err := s.store.Get(r.Context(), ri.res, ri.namespace, ri.name)
		if err != nil {
			writeStatus(w, r, err)
			return
		}
		sc, err := scaleOf(obj)
		if err != nil {
			writeStatus(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, sc)
		return
	case "UPDATE":
		sc := &api.Scale{}
		if err := decodeBody(w, r, scaleTypeMeta, sc); err != nil {
			writeStatus(w, r, err)
			return
		}
		if sc.Name != "" && sc.Name != ri.name {
			writeStatus(w, r, badRequest("the name of the Scale (%s) does not match the name on the URL (%s)", sc.Name, ri.name))
			return
		}
		build = func(old api.Object) (api.Object, bool, error) { return scaled(ri, old, sc) }
	case "PATCH":
		kind, body, err := readPatch(w, r)
		if err != nil {
			writeStatus(w, r, err)
			return
		}
		build = func(old api.Object) (api.Object, bool, error) {
			cur, err := scaleOf(old)
			if err != nil {
				return nil, false, err
			}
			doc, _ := json.Marshal(cur)
			patched, err := applyPatch(kind, doc, body)
			if err != nil {
				return nil, false, err
			}
			sc := &api.Scale{}
			if err := decodeJSON(patched, scaleTypeMeta, sc); err != nil {
				return nil, false, err
			}
			if sc.ResourceVersion == cur.ResourceVersion {
				sc.ResourceVersion = "" // untouched by the patch: no precondition
			}
			return scaled(ri, old, sc)
		}
	default:
		writeStatus(w, r, methodNotAllowed(r, "GET, PUT, PATCH"))
		return
	}
	out, err := s.guardedUpdate(r.Context(), ri, build)
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	sc, err := scaleOf(out)
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sc)
}

// scaled is old with spec.replicas from sc; sc's resourceVersion, if set, is
// a precondition.
func scaled(ri *requestInfo, old api.Object, sc *api.Scale) (api.Object, bool, error) {
	if sc.Spec.Replicas < 0 {
		return nil, false, invalid(ri.res, ri.name, "spec.replicas", "must be >= 0, got %d", sc.Spec.Replicas)
	}
	obj := api.DeepCopy(old)
	setReplicas(obj, sc.Spec.Replicas)
	pinned := sc.ResourceVersion != ""
	if pinned {
		obj.GetObjectMeta().ResourceVersion = sc.ResourceVersion
	}
	return obj, pinned, nil
}

// serveBinding assigns a pod to a node: POST pods/{name}/binding. A pod that
// already has a node is a 409 Conflict; the scheduler treats that as "lost
// the race" and moves on.
func (s *Server) serveBinding(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	if r.Method != http.MethodPost {
		writeStatus(w, r, methodNotAllowed(r, "POST"))
		return
	}
	b := &api.Binding{}
	if err := decodeBody(w, r, api.TypeMeta{APIVersion: "v1", Kind: "Binding"}, b); err != nil {
		writeStatus(w, r, err)
		return
	}
	if b.Name != "" && b.Name != ri.name {
		writeStatus(w, r, badRequest("the name of the Binding (%s) does not match the pod on the URL (%s)", b.Name, ri.name))
		return
	}
	if b.Target.Name == "" {
		writeStatus(w, r, invalid(ri.res, ri.name, "target.name", "Required value: the node to bind to"))
		return
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		writeStatus(w, r, invalid(ri.res, ri.name, "target.kind", "must be Node, got %q", b.Target.Kind))
		return
	}
	b.Name, b.Namespace = ri.name, ri.namespace
	if _, err := s.admit(r.Context(), OpCreate, ri, "binding", ri.name, b, nil); err != nil {
		writeStatus(w, r, err)
		return
	}
	_, err := s.guaranteedUpdate(r.Context(), ri, func(obj api.Object) error {
		pod := obj.(*api.Pod)
		switch {
		case b.UID != "" && b.UID != pod.UID:
			return &preconditionError{api.NewStatus(api.ReasonConflict, "pod %s: binding is for uid %s but the pod's uid is %s; the pod was re-created", pod.Name, b.UID, pod.UID)}
		case pod.DeletionTimestamp != nil:
			return &preconditionError{api.NewStatus(api.ReasonConflict, "pod %s is being deleted, cannot be assigned to a node", pod.Name)}
		case pod.Spec.NodeName != "":
			return &preconditionError{api.NewStatus(api.ReasonConflict, "pod %s is already assigned to node %s", pod.Name, pod.Spec.NodeName)}
		}
		pod.Spec.NodeName = b.Target.Name
		api.SetPodCondition(&pod.Status, api.PodCondition{Type: "PodScheduled", Status: "True", LastTransitionTime: time.Now().UTC().Truncate(time.Second)})
		return nil
	})
	if err != nil {
		writeStatus(w, r, unwrapPrecondition(err))
		return
	}
	writeJSON(w, http.StatusCreated, successStatus(http.StatusCreated, &api.StatusDetails{Name: ri.name, Kind: "pods"}))
}

// guaranteedUpdate is the store's GuaranteedUpdate, its first attempt on the
// watch cache's copy of the object when the cache holds it (a stale copy
// costs the store a retry, as a lost race does).
func (s *Server) guaranteedUpdate(ctx context.Context, ri *requestInfo, mutate func(api.Object) error) (api.Object, error) {
	if from, ok := s.store.(store.UpdaterFrom); ok {
		if cur, ok := s.cacheFor(ri.res).get(api.KeyOf(ri.namespace, ri.name)); ok {
			return from.GuaranteedUpdateFrom(ctx, cur, mutate)
		}
	}
	return s.store.GuaranteedUpdate(ctx, ri.res, ri.namespace, ri.name, mutate)
}
