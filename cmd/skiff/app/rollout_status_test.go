package app

import (
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
)

func TestWorkloadRolloutStatusLines(t *testing.T) {
	meta := api.ObjectMeta{Name: "x", Generation: 2}
	ds := func(st api.DaemonSetStatus) *api.DaemonSet {
		st.ObservedGeneration = max(st.ObservedGeneration, 2)
		return &api.DaemonSet{ObjectMeta: meta, Status: st}
	}
	sts := func(replicas int32, partition *int32, st api.StatefulSetStatus) *api.StatefulSet {
		st.ObservedGeneration = max(st.ObservedGeneration, 2)
		s := &api.StatefulSet{ObjectMeta: meta, Status: st}
		s.Spec.Replicas = &replicas
		if partition != nil {
			s.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateStatefulSetStrategy{Partition: partition}
		}
		return s
	}
	for name, tc := range map[string]struct {
		obj  api.Object
		want string
		done bool
	}{
		"ds unobserved":  {&api.DaemonSet{ObjectMeta: meta, Status: api.DaemonSetStatus{ObservedGeneration: 1}}, "Waiting for daemon set spec update to be observed...\n", false},
		"ds updating":    {ds(api.DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 1}), `Waiting for daemon set "x" rollout to finish: 1 out of 3 new pods have been updated...` + "\n", false},
		"ds available":   {ds(api.DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2}), `Waiting for daemon set "x" rollout to finish: 2 of 3 updated pods are available...` + "\n", false},
		"ds done":        {ds(api.DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3}), `daemon set "x" successfully rolled out` + "\n", true},
		"sts unobserved": {&api.StatefulSet{ObjectMeta: meta}, "Waiting for statefulset spec update to be observed...\n", false},
		"sts ready":      {sts(3, nil, api.StatefulSetStatus{ReadyReplicas: 1}), "Waiting for 2 pods to be ready...\n", false},
		"sts partition":  {sts(3, api.Int32Ptr(1), api.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1}), "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...\n", false},
		"sts part done":  {sts(3, api.Int32Ptr(1), api.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 2}), "partitioned roll out complete: 2 new pods have been updated...\n", true},
		"sts rolling":    {sts(3, nil, api.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "x-1", UpdateRevision: "x-2"}), "waiting for statefulset rolling update to complete 1 pods at revision x-2...\n", false},
		"sts done":       {sts(3, nil, api.StatefulSetStatus{ReadyReplicas: 3, CurrentReplicas: 3, CurrentRevision: "x-2", UpdateRevision: "x-2"}), "statefulset rolling update complete 3 pods at revision x-2...\n", true},
	} {
		t.Run(name, func(t *testing.T) {
			st, err := rolloutStatusOf(tc.obj)
			if err != nil || st.message != tc.want || st.done != tc.done {
				t.Fatalf("got %q done=%v err=%v; want %q done=%v", st.message, st.done, err, tc.want, tc.done)
			}
		})
	}
	onDelete := &api.DaemonSet{ObjectMeta: meta}
	onDelete.Spec.UpdateStrategy.Type = "OnDelete"
	if _, err := rolloutStatusOf(onDelete); err == nil || !strings.Contains(err.Error(), "only available for the RollingUpdate strategy, not OnDelete") {
		t.Fatalf("OnDelete daemon set: %v", err)
	}
}

func TestSetImages(t *testing.T) {
	template := func() *api.PodTemplateSpec {
		return &api.PodTemplateSpec{Spec: api.PodSpec{
			InitContainers: []api.Container{{Name: "init", Image: "busybox:1"}},
			Containers:     []api.Container{{Name: "main", Image: "nginx:1"}, {Name: "sidecar", Image: "envoy:1"}},
		}}
	}
	images := func(tmpl *api.PodTemplateSpec) string {
		var s []string
		for _, c := range append(tmpl.Spec.InitContainers, tmpl.Spec.Containers...) {
			s = append(s, c.Name+"="+c.Image)
		}
		return strings.Join(s, " ")
	}
	tmpl := template()
	if err := setImages(tmpl, map[string]string{"init": "busybox:2", "sidecar": "envoy:2"}, "x"); err != nil {
		t.Fatal(err)
	}
	if got := images(tmpl); got != "init=busybox:2 main=nginx:1 sidecar=envoy:2" {
		t.Fatalf("named: %s", got)
	}
	tmpl = template()
	if err := setImages(tmpl, map[string]string{"*": "all:1", "main": "nginx:9"}, "x"); err != nil {
		t.Fatal(err)
	}
	if got := images(tmpl); got != "init=all:1 main=nginx:9 sidecar=all:1" {
		t.Fatalf("star: %s", got)
	}
	err := setImages(template(), map[string]string{"main": "nginx:2", "db": "pg", "cache": "redis"}, `deployment "web"`)
	if err == nil || err.Error() != `deployment "web": no container named "cache", "db"; its containers: init, main, sidecar` {
		t.Fatalf("unknown containers: %v", err)
	}
	if _, _, err := splitImageArgs([]string{"deploy/web"}); err == nil || !strings.Contains(err.Error(), "at least one CONTAINER=IMAGE") {
		t.Fatalf("no images: %v", err)
	}
}
