package apiserver

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"reflect"
	"time"

	"github.com/google/uuid"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/store"
)

// maxUpdateAttempts bounds retries of an update the client did not pin to a
// resourceVersion and that lost a race with another writer.
const maxUpdateAttempts = 5

func (s *Server) serveCreate(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	obj := ri.res.NewObject()
	if err := decodeBody(w, r, typeMetaOf(ri.res), obj); err != nil {
		writeStatus(w, r, err)
		return
	}
	out, err := s.create(r.Context(), ri, obj)
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	writeObject(w, http.StatusCreated, ri.res, out)
}

func (s *Server) create(ctx context.Context, ri *requestInfo, obj api.Object) (api.Object, error) {
	meta := obj.GetObjectMeta()
	if err := s.checkNamespaceOf(ri, meta); err != nil {
		return nil, err
	}
	if meta.Name == "" && meta.GenerateName == "" {
		return nil, invalid(ri.res, "", "metadata.name", "Required value: name or generateName is required")
	}
	if meta.ResourceVersion != "" {
		return nil, badRequest("%s %q: metadata.resourceVersion must not be set on create (got %q); remove it", ri.res.Kind, meta.Name, meta.ResourceVersion)
	}
	if ri.res.Namespaced {
		if err := s.namespaceAcceptsContent(ctx, ri.namespace); err != nil {
			return nil, err
		}
	}
	// Status is written by controllers through /status; a create starts
	// from an empty one. Nodes are the exception: the agent registers its
	// node with capacity and addresses in one request, as the kubelet does.
	if ri.res.HasSubresource("status") && ri.res.Kind != "Node" {
		resetField(obj, "Status")
	}
	for attempt := 0; ; attempt++ {
		candidate := obj
		if meta.Name == "" {
			candidate = api.DeepCopy(obj)
			candidate.GetObjectMeta().Name = meta.GenerateName + randomSuffix()
		}
		out, err := s.createOnce(ctx, ri, candidate)
		if api.IsAlreadyExists(err) && meta.Name == "" && attempt < 3 {
			continue // a generated name collided: draw another
		}
		return out, err
	}
}

func (s *Server) createOnce(ctx context.Context, ri *requestInfo, obj api.Object) (api.Object, error) {
	name := obj.GetObjectMeta().Name
	admitted, err := s.admit(ctx, OpCreate, ri, "", name, obj, nil)
	if err != nil {
		return nil, err
	}
	// Defaulting of Jobs derives the pod selector from the uid, so the uid
	// is drawn here rather than left to the store.
	if admitted.GetObjectMeta().UID == "" {
		admitted.GetObjectMeta().UID = uuid.NewString()
	}
	api.SetDefaults(admitted)
	if err := api.Validate(admitted); err != nil {
		return nil, err
	}
	return s.withServiceAllocations(ctx, admitted, nil, s.store.Create)
}

// checkNamespaceOf reconciles the object's namespace with the URL's: a
// namespaced object may leave it empty or repeat it; a cluster-scoped one
// has none.
func (s *Server) checkNamespaceOf(ri *requestInfo, meta *api.ObjectMeta) error {
	if !ri.res.Namespaced {
		meta.Namespace = ""
		return nil
	}
	if meta.Namespace != "" && meta.Namespace != ri.namespace {
		return badRequest("the namespace of the provided object (%s) does not match the namespace sent on the request (%s)", meta.Namespace, ri.namespace)
	}
	meta.Namespace = ri.namespace
	return nil
}

// namespaceAcceptsContent rejects creates into a missing (404) or
// terminating (403) namespace. The namespaces watch cache answers the common
// case; the store is asked when the cache misses (it may lag a namespace
// created a moment ago) and when this server deleted the namespace within
// the last minute (the cache may not show it terminating yet), as
// Kubernetes' NamespaceLifecycle admission does.
func (s *Server) namespaceAcceptsContent(ctx context.Context, namespace string) error {
	nsRes, _ := api.ResourceForKind("Namespace")
	obj, ok := s.cacheFor(nsRes).get(namespace)
	if !ok || isTerminating(obj) || s.recentlyDeletedNamespace(namespace) {
		var err error
		if obj, err = s.store.Get(ctx, nsRes, "", namespace); err != nil {
			return err
		}
	}
	if isTerminating(obj) {
		return api.NewStatus(api.ReasonForbidden, "unable to create new content in namespace %s because it is being terminated", namespace)
	}
	return nil
}

// recentNamespaceDeletion is how long a namespace deleted through this server
// is checked against the store rather than the cache.
const recentNamespaceDeletion = time.Minute

func (s *Server) noteNamespaceDeleted(name string) {
	now := time.Now()
	s.deletedNamespaces.Range(func(k, v any) bool { // drop expired entries: the set stays small
		if now.Sub(v.(time.Time)) > recentNamespaceDeletion {
			s.deletedNamespaces.CompareAndDelete(k, v)
		}
		return true
	})
	s.deletedNamespaces.Store(name, now)
}

func (s *Server) recentlyDeletedNamespace(name string) bool {
	v, ok := s.deletedNamespaces.Load(name)
	if !ok {
		return false
	}
	if time.Since(v.(time.Time)) > recentNamespaceDeletion {
		s.deletedNamespaces.CompareAndDelete(name, v)
		return false
	}
	return true
}

func isTerminating(obj api.Object) bool {
	ns, ok := obj.(*api.Namespace)
	return ok && (ns.DeletionTimestamp != nil || ns.Status.Phase == "Terminating")
}

func (s *Server) admit(ctx context.Context, op Operation, ri *requestInfo, sub, name string, obj, old api.Object) (api.Object, error) {
	user, _ := UserFrom(ctx)
	out, err := s.admission.Admit(ctx, AdmissionRequest{
		Operation: op, User: user, Resource: ri.res, Subresource: sub,
		Namespace: ri.namespace, Name: name, Object: obj, OldObject: old,
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = obj
	}
	return out, nil
}

func (s *Server) serveUpdate(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	obj := ri.res.NewObject()
	if err := decodeBody(w, r, typeMetaOf(ri.res), obj); err != nil {
		writeStatus(w, r, err)
		return
	}
	if err := s.checkIdentity(ri, obj); err != nil {
		writeStatus(w, r, err)
		return
	}
	out, err := s.guardedUpdate(r.Context(), ri, func(api.Object) (api.Object, bool, error) {
		c := api.DeepCopy(obj)
		return c, c.GetObjectMeta().ResourceVersion != "", nil
	})
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	writeObject(w, http.StatusOK, ri.res, out)
}

// checkIdentity requires the body's name and namespace to match the URL,
// filling them when empty.
func (s *Server) checkIdentity(ri *requestInfo, obj api.Object) error {
	meta := obj.GetObjectMeta()
	if meta.Name == "" {
		meta.Name = ri.name
	}
	if meta.Name != ri.name {
		return badRequest("the name of the object (%s) does not match the name on the URL (%s)", meta.Name, ri.name)
	}
	return s.checkNamespaceOf(ri, meta)
}

// guardedUpdate reads the stored object, has build produce the new one from
// it, and stores it through admission, defaulting and validation. When build
// reports the client pinned a resourceVersion, it is a precondition and a
// mismatch is 409 Conflict; otherwise the write is based on the state just
// read and a lost race is retried.
//
// The first attempt takes the stored object from the watch cache, which
// saves a read from etcd on every update: the write is conditional on that
// object's resourceVersion, so a stale cache costs only a retry from the
// store. build and the admission chain get that shared object and must not
// change it.
func (s *Server) guardedUpdate(ctx context.Context, ri *requestInfo, build func(old api.Object) (obj api.Object, pinned bool, err error)) (api.Object, error) {
	cached := true
	for attempt := 1; ; attempt++ {
		old, fromCache, err := s.currentObject(ctx, ri, cached)
		if err != nil {
			return nil, err
		}
		obj, pinned, err := build(old)
		if err != nil {
			return nil, err
		}
		meta, oldMeta := obj.GetObjectMeta(), old.GetObjectMeta()
		if !pinned {
			meta.ResourceVersion = oldMeta.ResourceVersion
		} else if meta.ResourceVersion != oldMeta.ResourceVersion {
			if fromCache { // the cache may lag: ask the store before refusing
				cached, attempt = false, attempt-1
				continue
			}
			return nil, api.Conflict(ri.res, ri.name)
		}
		switch ri.subresource {
		case "":
			// The main resource never changes status: that is /status's job.
			if ri.res.HasSubresource("status") {
				copyField(obj, api.DeepCopy(old), "Status")
			}
		case "status":
			// /status changes only status: everything else stays as stored.
			withStatus := api.DeepCopy(old)
			copyField(withStatus, obj, "Status")
			withStatus.GetObjectMeta().ResourceVersion = meta.ResourceVersion
			obj = withStatus
		}
		out, err := s.commitUpdate(ctx, ri, obj, old)
		if api.IsConflict(err) && fromCache {
			// The cache was behind the store (or a writer won the race):
			// this attempt does not count.
			cached, attempt = false, attempt-1
			continue
		}
		if api.IsConflict(err) && !pinned && attempt < maxUpdateAttempts {
			continue
		}
		return out, err
	}
}

// currentObject is the object an update starts from: the watch cache's when
// allowed and held there, else the store's. fromCache says which.
func (s *Server) currentObject(ctx context.Context, ri *requestInfo, allowCache bool) (obj api.Object, fromCache bool, err error) {
	if allowCache {
		if obj, ok := s.cacheFor(ri.res).get(api.KeyOf(ri.namespace, ri.name)); ok {
			return obj, true, nil
		}
	}
	obj, err = s.store.Get(ctx, ri.res, ri.namespace, ri.name)
	return obj, false, err
}

func (s *Server) commitUpdate(ctx context.Context, ri *requestInfo, obj, old api.Object) (api.Object, error) {
	admitted, err := s.admit(ctx, OpUpdate, ri, ri.subresource, ri.name, obj, old)
	if err != nil {
		return nil, err
	}
	api.SetDefaults(admitted)
	carryServiceAllocations(admitted, old)
	if err := api.ValidateUpdate(admitted, old); err != nil {
		return nil, err
	}
	return s.withServiceAllocations(ctx, admitted, old, func(ctx context.Context, obj api.Object) (api.Object, error) {
		// old is a stored state: starting from it saves the store a read.
		if from, ok := s.store.(store.UpdaterFrom); ok {
			return from.UpdateFrom(ctx, obj, old)
		}
		return s.store.Update(ctx, obj)
	})
}

// resetField zeroes the named top-level field of an object, if it has one.
func resetField(obj api.Object, field string) {
	if f := reflect.ValueOf(obj).Elem().FieldByName(field); f.IsValid() {
		f.Set(reflect.Zero(f.Type()))
	}
}

// copyField sets dst's named top-level field to src's. Maps and slices are
// shared, so src must be a copy nobody else changes.
func copyField(dst, src api.Object, field string) {
	d := reflect.ValueOf(dst).Elem().FieldByName(field)
	sv := reflect.ValueOf(src).Elem().FieldByName(field)
	if d.IsValid() && sv.IsValid() && d.Type() == sv.Type() {
		d.Set(sv)
	}
}

const suffixAlphabet = "bcdfghjklmnpqrstvwxz2456789" // no vowels: no accidental words, as Kubernetes

// randomSuffix is the 5 characters appended to metadata.generateName.
func randomSuffix() string {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed: " + err.Error()))
	}
	for i := range b {
		b[i] = suffixAlphabet[int(b[i])%len(suffixAlphabet)]
	}
	return string(b)
}
