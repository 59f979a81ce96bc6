package printers

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/core/api"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// now is the fixed clock every age is computed against.
var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func agoPtr(d time.Duration) *time.Time { t := ago(d); return &t }

func meta(ns, name string, age time.Duration) api.ObjectMeta {
	return api.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: ago(age), Labels: map[string]string{"app": name}}
}

func typed[T api.Object](obj T) T {
	res, _ := api.ResourceFor(obj)
	*obj.GetTypeMeta() = api.TypeMeta{APIVersion: res.APIVersion(), Kind: res.Kind}
	return obj
}

func container(name, image string) api.Container { return api.Container{Name: name, Image: image} }

func running(name string, restarts int32) api.ContainerStatus {
	return api.ContainerStatus{Name: name, Ready: true, RestartCount: restarts, State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: ago(time.Hour)}}}
}

func waiting(name, reason string, restarts int32) api.ContainerStatus {
	cs := api.ContainerStatus{Name: name, RestartCount: restarts, State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: reason}}}
	if restarts > 0 {
		cs.LastTerminationState.Terminated = &api.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: ago(90 * time.Second)}
	}
	return cs
}

func terminated(name, reason string, code int32) api.ContainerStatus {
	return api.ContainerStatus{Name: name, State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: code, Reason: reason}}}
}

func pod(name string, age time.Duration, phase string, statuses ...api.ContainerStatus) *api.Pod {
	p := &api.Pod{ObjectMeta: meta("default", name, age)}
	for _, cs := range statuses {
		p.Spec.Containers = append(p.Spec.Containers, container(cs.Name, "nginx:1.25"))
	}
	p.Status.Phase = phase
	p.Status.ContainerStatuses = statuses
	if phase == "Running" {
		p.Status.PodIP, p.Spec.NodeName = "10.1.0.5", "node-1"
	}
	return typed(p)
}

func fixturePods() []api.Object {
	terminating := pod("web-terminating", 3*time.Minute, "Running", running("nginx", 0))
	terminating.DeletionTimestamp = agoPtr(time.Second)
	initPod := pod("web-init", 5*time.Second, "Pending", waiting("nginx", "PodInitializing", 0))
	initPod.Spec.InitContainers = []api.Container{container("migrate", "busybox")}
	initPod.Status.InitContainerStatuses = []api.ContainerStatus{waiting("migrate", "", 0)}
	return []api.Object{
		pod("web-7d4b9c-abcde", 2*time.Hour+5*time.Minute, "Running", running("nginx", 0), running("sidecar", 0)),
		pod("web-crash", 10*time.Minute, "Running", running("sidecar", 0), waiting("nginx", "CrashLoopBackOff", 4)),
		pod("web-pull", 40*time.Second, "Pending", waiting("nginx", "ImagePullBackOff", 0)),
		pod("web-creating", 3*time.Second, "Pending", waiting("nginx", "ContainerCreating", 0)),
		pod("job-done", 26*time.Hour, "Succeeded", terminated("main", "Completed", 0)),
		pod("job-failed", 3*24*time.Hour, "Failed", terminated("main", "Error", 1)),
		pod("job-killed", time.Minute, "Failed", terminated("main", "", 137)),
		terminating,
		initPod,
	}
}

func fixtureWorkloads() []api.Object {
	three := api.Int32Ptr(3)
	sel := &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	tmpl := api.PodTemplateSpec{Spec: api.PodSpec{Containers: []api.Container{container("nginx", "nginx:1.25"), container("log", "busybox")}}}
	dep := typed(&api.Deployment{ObjectMeta: meta("default", "web", 4*time.Hour), Spec: api.DeploymentSpec{Replicas: three, Selector: sel, Template: tmpl},
		Status: api.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}})
	rs := typed(&api.ReplicaSet{ObjectMeta: meta("default", "web-7d4b9c", 4*time.Hour), Spec: api.ReplicaSetSpec{Replicas: three, Selector: sel, Template: tmpl},
		Status: api.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 2}})
	ds := typed(&api.DaemonSet{ObjectMeta: meta("kube-system", "proxy", 3*24*time.Hour), Spec: api.DaemonSetSpec{Selector: sel, Template: tmpl},
		Status: api.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, NumberReady: 1, UpdatedNumberScheduled: 2, NumberAvailable: 1}})
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	sts := typed(&api.StatefulSet{ObjectMeta: meta("default", "db", 62*time.Second), Spec: api.StatefulSetSpec{Replicas: three, Selector: sel, Template: tmpl},
		Status: api.StatefulSetStatus{Replicas: 3, ReadyReplicas: 3}})
	return []api.Object{dep, rs, ds, sts}
}

func fixtureJobs() []api.Object {
	done := typed(&api.Job{ObjectMeta: meta("default", "pi", 10*time.Minute), Spec: api.JobSpec{Completions: api.Int32Ptr(5)},
		Status: api.JobStatus{Succeeded: 5, StartTime: agoPtr(10 * time.Minute), CompletionTime: agoPtr(7*time.Minute + 30*time.Second),
			Conditions: []api.JobCondition{{Type: "Complete", Status: "True"}}}})
	run := typed(&api.Job{ObjectMeta: meta("default", "batch", 45*time.Second), Spec: api.JobSpec{Parallelism: api.Int32Ptr(3)},
		Status: api.JobStatus{Active: 3, StartTime: agoPtr(44 * time.Second)}})
	cj := typed(&api.CronJob{ObjectMeta: meta("default", "nightly", 9*24*time.Hour), Spec: api.CronJobSpec{Schedule: "0 2 * * *", Suspend: api.BoolPtr(false)},
		Status: api.CronJobStatus{LastScheduleTime: agoPtr(10 * time.Hour), Active: []api.ObjectReference{{Name: "nightly-1"}}}})
	return []api.Object{done, run, cj}
}

func fixtureNetwork() []api.Object {
	svc := typed(&api.Service{ObjectMeta: meta("default", "web", time.Hour), Spec: api.ServiceSpec{Type: "ClusterIP", ClusterIP: "10.96.0.12",
		Selector: map[string]string{"app": "web"}, Ports: []api.ServicePort{{Port: 80, Protocol: "TCP", TargetPort: intstr.FromInt32(8080)}}}})
	np := typed(&api.Service{ObjectMeta: meta("default", "web-np", time.Hour), Spec: api.ServiceSpec{Type: "NodePort", ClusterIP: "10.96.0.13",
		Ports: []api.ServicePort{{Port: 80, NodePort: 32184, Protocol: "TCP"}, {Port: 53, NodePort: 30053, Protocol: "UDP"}}}})
	lb := typed(&api.Service{ObjectMeta: meta("default", "web-lb", time.Hour), Spec: api.ServiceSpec{Type: "LoadBalancer", ClusterIP: "10.96.0.14",
		Ports: []api.ServicePort{{Port: 443, NodePort: 31443, Protocol: "TCP"}}}})
	headless := typed(&api.Service{ObjectMeta: meta("default", "db", time.Hour), Spec: api.ServiceSpec{Type: "ClusterIP", ClusterIP: "None"}})
	var addrs []api.EndpointAddress
	for _, ip := range []string{"10.1.0.5", "10.1.0.6", "10.1.0.7", "10.1.1.2", "10.1.1.3"} {
		addrs = append(addrs, api.EndpointAddress{IP: ip})
	}
	ep := typed(&api.Endpoints{ObjectMeta: meta("default", "web", time.Hour), Subsets: []api.EndpointSubset{{Addresses: addrs, Ports: []api.EndpointPort{{Port: 8080}}}}})
	few := typed(&api.Endpoints{ObjectMeta: meta("default", "web-np", time.Hour), Subsets: []api.EndpointSubset{{Addresses: addrs[:2], Ports: []api.EndpointPort{{Port: 80}}}}})
	empty := typed(&api.Endpoints{ObjectMeta: meta("default", "db", time.Hour)})
	return []api.Object{svc, np, lb, headless, ep, few, empty}
}

func fixtureCluster() []api.Object {
	ready := typed(&api.Node{ObjectMeta: meta("", "node-1", 30*24*time.Hour)})
	ready.Labels["node-role.kubernetes.io/control-plane"] = ""
	ready.Annotations = map[string]string{"skiff.io/network-backend": "overlay"}
	ready.Status = api.NodeStatus{Conditions: []api.NodeCondition{{Type: "Ready", Status: "True"}},
		Addresses: []api.NodeAddress{{Type: "InternalIP", Address: "192.168.1.10"}},
		NodeInfo:  api.NodeSystemInfo{KubeletVersion: "v0.1.0", OSImage: "Debian GNU/Linux 12 (bookworm)", KernelVersion: "6.1.0-18-amd64", ContainerRuntimeVersion: "containerd://1.7.35"}}
	cordoned := typed(&api.Node{ObjectMeta: meta("", "node-2", 5*time.Hour), Spec: api.NodeSpec{Unschedulable: true}})
	cordoned.Status.Conditions = []api.NodeCondition{{Type: "Ready", Status: "False"}}
	ns := typed(&api.Namespace{ObjectMeta: meta("", "demo", 20*time.Minute), Status: api.NamespaceStatus{Phase: "Active"}})
	cm := typed(&api.ConfigMap{ObjectMeta: meta("default", "settings", 3*time.Hour), Data: map[string]string{"a": "1", "b": "2"}})
	secret := typed(&api.Secret{ObjectMeta: meta("default", "tls", 3*time.Hour), Type: "kubernetes.io/tls", Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}})
	holder := "node-1"
	lease := typed(&api.Lease{ObjectMeta: meta("kube-node-lease", "node-1", 30*24*time.Hour), Spec: api.LeaseSpec{HolderIdentity: &holder}})
	ev := typed(&api.Event{ObjectMeta: meta("default", "web.17a3", time.Minute), Type: "Warning", Reason: "BackOff",
		InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "web-crash"}, Message: "Back-off restarting failed container nginx",
		Source: api.EventSource{Component: "agent"}, FirstTimestamp: ago(9 * time.Minute), LastTimestamp: ago(12 * time.Second), Count: 7})
	return []api.Object{ready, cordoned, ns, cm, secret, lease, ev}
}

func TestTablesGolden(t *testing.T) {
	fixtures := map[string][]api.Object{
		"pods": fixturePods(), "workloads": fixtureWorkloads(), "jobs": fixtureJobs(),
		"network": fixtureNetwork(), "cluster": fixtureCluster(),
	}
	variants := map[string]Options{
		"":            {},
		"-wide":       {Wide: true},
		"-all-labels": {WithNamespace: true, ShowLabels: true},
		"-no-headers": {NoHeaders: true},
	}
	for name, objs := range fixtures {
		for suffix, opts := range variants {
			opts.Now = now
			var buf bytes.Buffer
			p := NewTablePrinter(&buf, opts)
			if err := p.Print(objs...); err != nil {
				t.Fatal(err)
			}
			if err := p.Flush(); err != nil {
				t.Fatal(err)
			}
			golden(t, name+suffix, buf.Bytes())
		}
	}
}

func TestWatchRowsKeepHeaderWidths(t *testing.T) {
	var buf bytes.Buffer
	p := NewTablePrinter(&buf, Options{Now: now})
	pods := fixturePods()
	p.Print(pods[1])
	p.Flush()
	p.Print(pods[0]) // narrower cells printed later keep the header's widths
	p.Flush()
	golden(t, "watch", buf.Bytes())
}

func TestOutputFormatsGolden(t *testing.T) {
	objs := fixtureNetwork()[:2]
	var buf bytes.Buffer
	if err := PrintYAML(&buf, objs[:1], false); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("---\n")
	if err := PrintYAML(&buf, objs, false); err != nil {
		t.Fatal(err)
	}
	golden(t, "service.yaml", buf.Bytes())
	buf.Reset()
	if err := PrintJSON(&buf, objs[:1], false); err != nil {
		t.Fatal(err)
	}
	golden(t, "service.json", buf.Bytes())
	buf.Reset()
	if err := PrintName(&buf, append(objs, fixtureWorkloads()[0])); err != nil {
		t.Fatal(err)
	}
	golden(t, "names", buf.Bytes())
}

func TestAge(t *testing.T) {
	cases := map[time.Duration]string{
		5 * time.Second: "5s", 3*time.Minute + 2*time.Second: "3m2s", 4 * time.Hour: "4h",
		4*time.Hour + 30*time.Minute: "4h30m", 2 * 24 * time.Hour: "2d", 400 * 24 * time.Hour: "400d",
	}
	for d, want := range cases {
		if got := Age(ago(d), now); got != want {
			t.Errorf("Age(%v) = %q, want %q", d, got, want)
		}
	}
	if got := Age(time.Time{}, now); got != "<unknown>" {
		t.Errorf("Age(zero) = %q", got)
	}
}

func TestNoResourcesMessage(t *testing.T) {
	if got := NoResourcesMessage("default", true, false); got != "No resources found in default namespace." {
		t.Error(got)
	}
	if got := NoResourcesMessage("default", false, false); got != "No resources found" {
		t.Error(got)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file\n--- got\n%s--- want\n%s", path, got, want)
	}
}
