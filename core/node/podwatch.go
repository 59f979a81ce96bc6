package node

import (
	"context"
	"sync"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// podHandler is what an agent gets from a PodWatch: calls are sequential.
type podHandler interface {
	// podsSynced gets every pod bound to the node after each (re)list.
	podsSynced(pods []*api.Pod)
	// podChanged gets an added or modified pod; podDeleted a deleted one.
	podChanged(pod *api.Pod)
	podDeleted(pod *api.Pod)
}

// PodWatch lists and watches the pods bound to nodes and hands each node's
// pods to that node's agent: one watch stream serves every agent of a
// process.
type PodWatch struct {
	lw *client.ListWatch

	mu       sync.Mutex
	handlers map[string]podHandler
	synced   bool
	byNode   map[string]map[string]*api.Pod // node -> uid -> pod, for late subscribers
}

// NewPodWatch watches the pods bound to one node, or to any node when
// nodeName is empty.
func NewPodWatch(c *client.Client, nodeName string) *PodWatch {
	sel := "spec.nodeName!="
	if nodeName != "" {
		sel = "spec.nodeName=" + nodeName
	}
	pw := &PodWatch{handlers: map[string]podHandler{}, byNode: map[string]map[string]*api.Pod{}}
	pw.lw = client.NewListWatch(c, client.ResourceOf[*api.Pod](), "", client.ListWatchOptions{FieldSelector: sel}, pw)
	return pw
}

// Run lists and watches until ctx ends.
func (pw *PodWatch) Run(ctx context.Context) error { return pw.lw.Run(ctx) }

// subscribe registers the agent of node; it gets the current pods at once
// when the watch has synced.
func (pw *PodWatch) subscribe(node string, h podHandler) (unsubscribe func()) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.handlers[node] = h
	if pw.synced {
		h.podsSynced(podList(pw.byNode[node]))
	}
	return func() {
		pw.mu.Lock()
		defer pw.mu.Unlock()
		delete(pw.handlers, node)
	}
}

func podList(m map[string]*api.Pod) []*api.Pod {
	out := make([]*api.Pod, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	return out
}

// OnSync implements client.ListWatchHandler.
func (pw *PodWatch) OnSync(items []api.Object) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.byNode = map[string]map[string]*api.Pod{}
	for _, obj := range items {
		pod := obj.(*api.Pod)
		pw.store(pod)
	}
	pw.synced = true
	for node, h := range pw.handlers {
		h.podsSynced(podList(pw.byNode[node]))
	}
}

func (pw *PodWatch) store(pod *api.Pod) {
	m := pw.byNode[pod.Spec.NodeName]
	if m == nil {
		m = map[string]*api.Pod{}
		pw.byNode[pod.Spec.NodeName] = m
	}
	m[pod.UID] = pod
}

// OnEvent implements client.ListWatchHandler.
func (pw *PodWatch) OnEvent(typ client.EventType, obj api.Object) {
	pod, ok := obj.(*api.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	pw.mu.Lock()
	defer pw.mu.Unlock()
	h := pw.handlers[pod.Spec.NodeName]
	if typ == client.Deleted {
		delete(pw.byNode[pod.Spec.NodeName], pod.UID)
		if h != nil {
			h.podDeleted(pod)
		}
		return
	}
	pw.store(pod)
	if h != nil {
		h.podChanged(pod)
	}
}
