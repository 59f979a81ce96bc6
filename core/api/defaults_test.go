package api

import (
	"encoding/json"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func podSpec(images ...string) PodSpec {
	var s PodSpec
	for i, img := range images {
		s.Containers = append(s.Containers, Container{Name: "c" + string(rune('0'+i)), Image: img})
	}
	return s
}

func TestSetDefaultsPod(t *testing.T) {
	pod := &Pod{ObjectMeta: ObjectMeta{Name: "p", Namespace: "default"}, Spec: podSpec("nginx", "nginx:latest", "nginx:1.27", "reg:5000/app", "reg:5000/app:v2", "app@sha256:abc")}
	pod.Spec.Containers[0].Ports = []ContainerPort{{ContainerPort: 80}}
	pod.Spec.Containers[0].LivenessProbe = &Probe{ProbeHandler: ProbeHandler{HTTPGet: &HTTPGetAction{Port: intstr.FromInt32(80)}}}
	pod.Spec.Containers[0].ReadinessProbe = &Probe{ProbeHandler: ProbeHandler{TCPSocket: &TCPSocketAction{Port: intstr.FromInt32(80)}}, PeriodSeconds: 5}
	pod.Spec.Containers[1].Resources.Limits = rl("cpu", "1", "memory", "1Gi")
	pod.Spec.Volumes = []Volume{{Name: "scratch"}, {Name: "cfg", VolumeSource: VolumeSource{ConfigMap: &ConfigMapVolumeSource{Name: "cfg"}}}}
	SetDefaults(pod)

	s := pod.Spec
	check(t, "restartPolicy", s.RestartPolicy, "Always")
	check(t, "terminationGracePeriodSeconds", *s.TerminationGracePeriodSeconds, int64(30))
	check(t, "dnsPolicy", s.DNSPolicy, "ClusterFirst")
	check(t, "schedulerName", s.SchedulerName, "default-scheduler")
	for i, want := range []string{"Always", "Always", "IfNotPresent", "Always", "IfNotPresent", "IfNotPresent"} {
		check(t, "imagePullPolicy of "+s.Containers[i].Image, s.Containers[i].ImagePullPolicy, want)
	}
	check(t, "port protocol", s.Containers[0].Ports[0].Protocol, "TCP")
	lp := s.Containers[0].LivenessProbe
	check(t, "probe", [4]int32{lp.TimeoutSeconds, lp.PeriodSeconds, lp.SuccessThreshold, lp.FailureThreshold}, [4]int32{1, 10, 1, 3})
	check(t, "httpGet path/scheme", lp.HTTPGet.Path+" "+lp.HTTPGet.Scheme, "/ HTTP")
	check(t, "explicit period kept", s.Containers[0].ReadinessProbe.PeriodSeconds, int32(5))
	req := s.Containers[1].Resources.Requests["memory"]
	check(t, "requests default to limits", req.String(), "1Gi")
	if s.Volumes[0].EmptyDir == nil {
		t.Error("a volume without a source must default to emptyDir")
	}
	check(t, "configMap defaultMode", *s.Volumes[1].ConfigMap.DefaultMode, int32(0o644))
	check(t, "phase", pod.Status.Phase, "Pending")
	check(t, "qosClass", pod.Status.QOSClass, "Burstable")
	assertIdempotent(t, pod)
}

func TestSetDefaultsHostNetworkPorts(t *testing.T) {
	pod := &Pod{Spec: podSpec("x:1")}
	pod.Spec.HostNetwork = true
	pod.Spec.Containers[0].Ports = []ContainerPort{{ContainerPort: 8080}}
	SetDefaults(pod)
	check(t, "hostPort", pod.Spec.Containers[0].Ports[0].HostPort, int32(8080))
}

func TestSetDefaultsRunningPodKeepsPhase(t *testing.T) {
	pod := &Pod{Spec: podSpec("x:1"), Status: PodStatus{Phase: PodRunning}}
	SetDefaults(pod)
	check(t, "phase", pod.Status.Phase, PodRunning)
}

func TestSetDefaultsService(t *testing.T) {
	svc := &Service{Spec: ServiceSpec{Ports: []ServicePort{
		{Name: "http", Port: 80},
		{Name: "named", Port: 443, TargetPort: intstr.FromString("https")},
		{Name: "dns", Port: 53, Protocol: "UDP", TargetPort: intstr.FromInt32(5353)},
	}}}
	SetDefaults(svc)
	check(t, "type", svc.Spec.Type, "ClusterIP")
	check(t, "sessionAffinity", svc.Spec.SessionAffinity, "None")
	check(t, "protocol", svc.Spec.Ports[0].Protocol, "TCP")
	check(t, "udp kept", svc.Spec.Ports[2].Protocol, "UDP")
	check(t, "targetPort = port", svc.Spec.Ports[0].TargetPort, intstr.FromInt32(80))
	check(t, "named targetPort kept", svc.Spec.Ports[1].TargetPort, intstr.FromString("https"))
	check(t, "int targetPort kept", svc.Spec.Ports[2].TargetPort, intstr.FromInt32(5353))
	assertIdempotent(t, svc)

	np := &Service{Spec: ServiceSpec{Type: "NodePort", SessionAffinity: "ClientIP"}}
	SetDefaults(np)
	check(t, "externalTrafficPolicy", np.Spec.ExternalTrafficPolicy, "Cluster")
	check(t, "clientIP timeout", *np.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds, int32(10800))
}

func TestSetDefaultsDeployment(t *testing.T) {
	d := &Deployment{Spec: DeploymentSpec{Template: PodTemplateSpec{Spec: podSpec("nginx:1")}}}
	SetDefaults(d)
	check(t, "replicas", *d.Spec.Replicas, int32(1))
	check(t, "strategy", d.Spec.Strategy.Type, "RollingUpdate")
	check(t, "maxSurge", *d.Spec.Strategy.RollingUpdate.MaxSurge, intstr.FromString("25%"))
	check(t, "maxUnavailable", *d.Spec.Strategy.RollingUpdate.MaxUnavailable, intstr.FromString("25%"))
	check(t, "revisionHistoryLimit", *d.Spec.RevisionHistoryLimit, int32(10))
	check(t, "progressDeadlineSeconds", *d.Spec.ProgressDeadlineSeconds, int32(600))
	check(t, "template restartPolicy", d.Spec.Template.Spec.RestartPolicy, "Always")
	assertIdempotent(t, d)

	r := &Deployment{Spec: DeploymentSpec{Replicas: Int32Ptr(0), Strategy: DeploymentStrategy{Type: "Recreate"}}}
	SetDefaults(r)
	check(t, "explicit zero replicas kept", *r.Spec.Replicas, int32(0))
	if r.Spec.Strategy.RollingUpdate != nil {
		t.Error("Recreate must not get rollingUpdate parameters")
	}
}

func TestSetDefaultsWorkloads(t *testing.T) {
	rs := &ReplicaSet{}
	SetDefaults(rs)
	check(t, "rs replicas", *rs.Spec.Replicas, int32(1))

	ds := &DaemonSet{}
	SetDefaults(ds)
	check(t, "ds strategy", ds.Spec.UpdateStrategy.Type, "RollingUpdate")
	check(t, "ds maxUnavailable", *ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable, intstr.FromInt32(1))
	assertIdempotent(t, ds)

	sts := &StatefulSet{}
	SetDefaults(sts)
	check(t, "sts replicas", *sts.Spec.Replicas, int32(1))
	check(t, "sts podManagementPolicy", sts.Spec.PodManagementPolicy, "OrderedReady")
	check(t, "sts strategy", sts.Spec.UpdateStrategy.Type, "RollingUpdate")
	check(t, "sts partition", *sts.Spec.UpdateStrategy.RollingUpdate.Partition, int32(0))
	assertIdempotent(t, sts)
}

func TestSetDefaultsJob(t *testing.T) {
	j := &Job{ObjectMeta: ObjectMeta{Name: "pi", UID: "u-1"}, Spec: JobSpec{Template: PodTemplateSpec{Spec: podSpec("perl:5")}}}
	SetDefaults(j)
	check(t, "completions", *j.Spec.Completions, int32(1))
	check(t, "parallelism", *j.Spec.Parallelism, int32(1))
	check(t, "backoffLimit", *j.Spec.BackoffLimit, int32(6))
	check(t, "completionMode", j.Spec.CompletionMode, "NonIndexed")
	check(t, "suspend", *j.Spec.Suspend, false)
	check(t, "restartPolicy not defaulted", j.Spec.Template.Spec.RestartPolicy, "")
	check(t, "selector", j.Spec.Selector.MatchLabels, map[string]string{JobControllerUIDLabel: "u-1"})
	check(t, "template labels", j.Spec.Template.Labels, map[string]string{JobControllerUIDLabel: "u-1", JobNameLabel: "pi"})
	assertIdempotent(t, j)

	queue := &Job{Spec: JobSpec{Parallelism: Int32Ptr(4)}}
	SetDefaults(queue)
	if queue.Spec.Completions != nil {
		t.Error("parallelism alone must leave completions unset (work queue)")
	}
	if queue.Spec.Selector != nil {
		t.Error("no selector can be generated before the uid is set")
	}
	manual := &Job{ObjectMeta: ObjectMeta{UID: "u"}, Spec: JobSpec{ManualSelector: BoolPtr(true)}}
	SetDefaults(manual)
	if manual.Spec.Selector != nil {
		t.Error("manualSelector must not get a generated selector")
	}
}

func TestSetDefaultsCronJob(t *testing.T) {
	c := &CronJob{Spec: CronJobSpec{Schedule: "@hourly"}}
	SetDefaults(c)
	check(t, "concurrencyPolicy", c.Spec.ConcurrencyPolicy, "Allow")
	check(t, "suspend", *c.Spec.Suspend, false)
	check(t, "successful history", *c.Spec.SuccessfulJobsHistoryLimit, int32(3))
	check(t, "failed history", *c.Spec.FailedJobsHistoryLimit, int32(1))
	check(t, "job template backoffLimit", *c.Spec.JobTemplate.Spec.BackoffLimit, int32(6))
	if c.Spec.JobTemplate.Spec.Selector != nil {
		t.Error("a CronJob's job template must not carry a selector")
	}
	assertIdempotent(t, c)
}

func TestSetDefaultsNamespaceSecretEvent(t *testing.T) {
	ns := &Namespace{}
	SetDefaults(ns)
	check(t, "namespace phase", ns.Status.Phase, "Active")

	sec := &Secret{Data: map[string][]byte{"a": []byte("1"), "b": []byte("old")}, StringData: map[string]string{"b": "new", "c": "3"}}
	SetDefaults(sec)
	check(t, "secret type", sec.Type, "Opaque")
	check(t, "secret data", sec.Data, map[string][]byte{"a": []byte("1"), "b": []byte("new"), "c": []byte("3")})
	if sec.StringData != nil {
		t.Error("stringData must be cleared after merging")
	}
	assertIdempotent(t, sec)

	ev := &Event{}
	SetDefaults(ev)
	check(t, "event count", ev.Count, int32(1))
	check(t, "event type", ev.Type, "Normal")
}

func check[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func assertIdempotent(t *testing.T, obj Object) {
	t.Helper()
	before, _ := json.Marshal(obj)
	SetDefaults(obj)
	after, _ := json.Marshal(obj)
	if string(before) != string(after) {
		t.Errorf("SetDefaults is not idempotent:\nfirst:  %s\nsecond: %s", before, after)
	}
}
