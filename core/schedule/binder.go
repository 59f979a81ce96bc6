package schedule

import (
	"context"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// ClientBinder binds pods and sets their conditions through the API server.
type ClientBinder struct{ Client *client.Client }

var _ Binder = ClientBinder{}

// Bind posts a Binding to the pod's binding subresource; the server answers
// 409 Conflict if the pod is already bound.
func (b ClientBinder) Bind(ctx context.Context, pod *api.Pod, node string) error {
	return b.Client.Bind(ctx, pod.Namespace, pod.Name, node)
}

// SetCondition sets PodScheduled=False on the latest version of the pod,
// retrying when a concurrent write wins.
func (b ClientBinder) SetCondition(ctx context.Context, pod *api.Pod, reason, message string) error {
	var err error
	for range 3 {
		var latest *api.Pod
		if latest, err = client.Get[*api.Pod](ctx, b.Client, pod.Namespace, pod.Name); err != nil {
			return err
		}
		if latest.UID != pod.UID || latest.Spec.NodeName != "" {
			return nil // replaced or bound meanwhile: the condition is moot
		}
		if !api.SetPodCondition(&latest.Status, api.PodCondition{Type: api.PodScheduled, Status: api.ConditionFalse, Reason: reason, Message: message}) {
			return nil
		}
		if _, err = client.UpdateStatus(ctx, b.Client, latest); !api.IsConflict(err) {
			return err
		}
	}
	return err
}
