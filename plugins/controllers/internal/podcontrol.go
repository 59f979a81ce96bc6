package internal

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// PodControl creates and deletes an owner's pods: it records a
// SuccessfulCreate/FailedCreate or SuccessfulDelete/FailedDelete Event on
// the owner for each write, and settles the owner's expectations for a
// write that will never be seen. The writes' expectations are recorded
// before they are issued (Apply does it; callers of Create and Delete do).
type PodControl struct {
	Client   *client.Client
	Recorder reconcile.Recorder
	Exp      *Expectations
	// StableNames marks pods that bring their own names (StatefulSet
	// ordinals): a create that finds the name taken counts as done, since
	// the pod there is the one wanted and merely not cached yet, and Events
	// are worded as Kubernetes' StatefulSet controller words them. Other
	// pods get the owner's name and a random suffix, retried when taken.
	StableNames bool
}

// PodFromTemplate builds a pod controlled by owner from template, as
// Kubernetes' GetPodFromTemplate does. Labels and annotations are copies;
// the spec is a shallow copy of the template's: replace its fields, never
// modify what they point to.
func PodFromTemplate(owner api.Object, template *api.PodTemplateSpec) *api.Pod {
	return &api.Pod{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{
			Namespace:       owner.GetObjectMeta().Namespace,
			Labels:          maps.Clone(template.Labels),
			Annotations:     maps.Clone(template.Annotations),
			Finalizers:      template.Finalizers,
			OwnerReferences: []api.OwnerReference{api.NewControllerRef(owner)},
		},
		Spec: template.Spec,
	}
}

// Apply records the expectations of creating create and deleting del, then
// issues all of them at once and waits; the error joins every failure.
func (pc *PodControl) Apply(ctx context.Context, owner api.Object, create, del []*api.Pod) error {
	key := owner.GetObjectMeta().Key()
	deleteKeys := make([]string, len(del))
	for i, p := range del {
		deleteKeys[i] = p.Key()
	}
	pc.Exp.ExpectCreations(key, len(create))
	pc.Exp.ExpectDeletions(key, deleteKeys)
	errs := make([]error, len(create)+len(del))
	var wg sync.WaitGroup
	for i, pod := range create {
		wg.Go(func() { errs[i] = pc.Create(ctx, owner, pod) })
	}
	for i, pod := range del {
		wg.Go(func() { errs[len(create)+i] = pc.Delete(ctx, owner, pod) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Create creates pod for owner. On failure the expected creation is
// marked observed (it will never be seen) and a warning Event says why.
func (pc *PodControl) Create(ctx context.Context, owner api.Object, pod *api.Pod) error {
	meta := owner.GetObjectMeta()
	var err error
	for range 3 {
		if !pc.StableNames {
			pod.Name = GenerateName(meta.Name)
		}
		if _, err = client.Create(ctx, pc.Client, pod); err == nil || !api.IsAlreadyExists(err) || pc.StableNames {
			break
		}
	}
	if err == nil {
		pc.record(ctx, owner, "create", pod, nil)
		return nil
	}
	pc.Exp.CreationObserved(meta.Key())
	if pc.StableNames && api.IsAlreadyExists(err) {
		return nil
	}
	pc.record(ctx, owner, "create", pod, err)
	return fmt.Errorf("%s %q: create %s: %w", singular(owner), meta.Key(), pc.describe(pod), err)
}

// Delete deletes pod, guarded by its UID so a namesake is safe. A pod
// already gone is fine; on either that or a failure the expected deletion
// is marked observed, since no event may come for it.
func (pc *PodControl) Delete(ctx context.Context, owner api.Object, pod *api.Pod) error {
	meta := owner.GetObjectMeta()
	uid := pod.UID
	err := client.Delete[*api.Pod](ctx, pc.Client, pod.Namespace, pod.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: &uid}})
	if err == nil {
		pc.record(ctx, owner, "delete", pod, nil)
		return nil
	}
	pc.Exp.DeletionObserved(meta.Key(), pod.Key())
	if api.IsNotFound(err) {
		return nil
	}
	pc.record(ctx, owner, "delete", pod, err)
	return fmt.Errorf("%s %q: delete pod %q: %w", singular(owner), meta.Key(), pod.Name, err)
}

// record writes the Event of a create or delete (verb), worded as
// Kubernetes' controllers word it. A failure because ctx ended (the
// controller is stopping) is not worth one.
func (pc *PodControl) record(ctx context.Context, owner api.Object, verb string, pod *api.Pod, err error) {
	typ, reason := reconcile.EventNormal, "Successful"+cases[verb]
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		typ, reason = reconcile.EventWarning, "Failed"+cases[verb]
	}
	switch {
	case pc.StableNames:
		outcome := "successful"
		if err != nil {
			outcome = fmt.Sprintf("failed error: %v", err)
		}
		pc.Recorder.Eventf(owner, typ, reason, "%s Pod %s in %s %s %s", verb, pod.Name, kindOf(owner), owner.GetObjectMeta().Name, outcome)
	case err == nil && verb == "create":
		pc.Recorder.Eventf(owner, typ, reason, "Created pod: %s", pod.Name)
	case err == nil:
		pc.Recorder.Eventf(owner, typ, reason, "Deleted pod: %s", pod.Name)
	case verb == "delete":
		pc.Recorder.Eventf(owner, typ, reason, "Error deleting pod %s: %v", pod.Name, err)
	case pod.Spec.NodeName != "":
		pc.Recorder.Eventf(owner, typ, reason, "Error creating pod on node %s: %v", pod.Spec.NodeName, err)
	default:
		pc.Recorder.Eventf(owner, typ, reason, "Error creating: %v", err)
	}
}

// cases maps a verb to its form in Event reasons.
var cases = map[string]string{"create": "Create", "delete": "Delete"}

// describe names the pod a failed create was for, as far as it is known.
func (pc *PodControl) describe(pod *api.Pod) string {
	s := "pod"
	if pc.StableNames {
		s += fmt.Sprintf(" %q", pod.Name)
	}
	if pod.Spec.NodeName != "" {
		s += fmt.Sprintf(" on node %q", pod.Spec.NodeName)
	}
	return s
}

// kindOf is obj's kind ("StatefulSet"); cached objects may lack TypeMeta.
func kindOf(obj api.Object) string {
	if res, ok := api.ResourceFor(obj); ok {
		return res.Kind
	}
	return obj.GetTypeMeta().Kind
}

// singular is obj's kind as error messages start with it ("statefulset").
func singular(obj api.Object) string {
	if res, ok := api.ResourceFor(obj); ok {
		return res.Singular
	}
	return fmt.Sprintf("%T", obj)
}
