package containerd

import (
	"context"
	"fmt"
	"time"

	eventtypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"
)

// watchOOM marks containers the kernel OOM-killed (label labelOOMKilled), so
// their exit reports OOMKilled rather than Error. It resubscribes after the
// daemon restarts, until ctx is done.
func (r *Runtime) watchOOM(ctx context.Context) {
	defer close(r.eventsDone)
	ctx = r.ns(ctx)
	filter := fmt.Sprintf(`topic=="/tasks/oom",namespace==%q`, r.cfg.Namespace)
	for ctx.Err() == nil {
		events, errs := r.client.Subscribe(ctx, filter)
	recv:
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-errs:
				if ctx.Err() == nil {
					r.log.Debug("containerd events interrupted; resubscribing", "err", err)
				}
				break recv
			case env := <-events:
				if env == nil || env.Event == nil {
					continue
				}
				ev, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					continue
				}
				if oom, ok := ev.(*eventtypes.TaskOOM); ok {
					r.markOOM(ctx, oom.ContainerID)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (r *Runtime) markOOM(ctx context.Context, id string) {
	c, err := r.client.LoadContainer(ctx, id)
	if err == nil {
		_, err = c.SetLabels(ctx, map[string]string{labelOOMKilled: "true"})
	}
	if err != nil {
		r.log.Warn("record OOM kill", "container", id, "err", err)
	}
}
