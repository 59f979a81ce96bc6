package api

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validPodSpec() PodSpec {
	return PodSpec{
		Containers: []Container{{
			Name: "web", Image: "nginx:1.27",
			Ports:          []ContainerPort{{Name: "http", ContainerPort: 80, Protocol: "TCP"}},
			VolumeMounts:   []VolumeMount{{Name: "data", MountPath: "/data"}},
			Resources:      ResourceRequirements{Requests: rl("cpu", "100m"), Limits: rl("cpu", "1")},
			ReadinessProbe: &Probe{ProbeHandler: ProbeHandler{HTTPGet: &HTTPGetAction{Port: intstr.FromString("http")}}},
		}},
		Volumes:       []Volume{{Name: "data", VolumeSource: VolumeSource{EmptyDir: &EmptyDirVolumeSource{}}}},
		RestartPolicy: "Always",
	}
}

func validDeployment() *Deployment {
	labels := map[string]string{"app": "web"}
	return &Deployment{
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "default", Labels: labels},
		Spec: DeploymentSpec{
			Replicas: Int32Ptr(3),
			Selector: &LabelSelector{MatchLabels: labels},
			Template: PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: labels}, Spec: validPodSpec()},
		},
	}
}

func validJob() *Job {
	labels := map[string]string{"job": "pi"}
	spec := validPodSpec()
	spec.RestartPolicy = "Never"
	return &Job{
		ObjectMeta: ObjectMeta{Name: "pi", Namespace: "default"},
		Spec: JobSpec{
			Selector: &LabelSelector{MatchLabels: labels},
			Template: PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
}

func validCronJob() *CronJob {
	j := validJob()
	j.Spec.Selector = nil
	return &CronJob{
		ObjectMeta: ObjectMeta{Name: "nightly", Namespace: "default"},
		Spec:       CronJobSpec{Schedule: "0 3 * * *", JobTemplate: JobTemplateSpec{Spec: j.Spec}},
	}
}

func validService() *Service {
	return &Service{
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Spec: ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: "TCP"}, {Name: "https", Port: 443, Protocol: "TCP"}},
		},
	}
}

func validStatefulSet() *StatefulSet {
	d := validDeployment()
	return &StatefulSet{ObjectMeta: d.ObjectMeta, Spec: StatefulSetSpec{Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: d.Spec.Template, ServiceName: "web"}}
}

// cause is "field: body", as kubectl prints each cause.
type validationCase struct {
	name   string
	obj    Object
	causes []string
}

func runValidationCases(t *testing.T, cases []validationCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.obj)
			if len(tt.causes) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			assertCauses(t, err, tt.causes)
		})
	}
}

func assertCauses(t *testing.T, err error, want []string) {
	t.Helper()
	st, ok := err.(*Status)
	if !ok {
		t.Fatalf("error = %v (%T), want *Status", err, err)
	}
	if st.Code != 422 || st.Reason != ReasonInvalid {
		t.Errorf("code/reason = %d/%s, want 422/Invalid", st.Code, st.Reason)
	}
	var got []string
	for _, c := range st.Details.Causes {
		got = append(got, c.Field+": "+c.Message)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("causes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestValidateMessageShape(t *testing.T) {
	d := validDeployment()
	d.Spec.Replicas = Int32Ptr(-1)
	err := Validate(d)
	want := `Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	st := err.(*Status)
	if st.Details.Name != "web" || st.Details.Group != "apps" || st.Details.Kind != "Deployment" {
		t.Errorf("details = %+v", st.Details)
	}
	if c := st.Details.Causes[0]; c.Type != "FieldValueInvalid" || c.Field != "spec.replicas" {
		t.Errorf("cause = %+v", c)
	}
	if !IsInvalid(err) {
		t.Error("IsInvalid must recognise a validation error")
	}

	d.Spec.Template.Spec.Containers[0].Image = ""
	want = `Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, spec.template.spec.containers[0].image: Required value]`
	if err := Validate(d); err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}

	pod := &Pod{ObjectMeta: ObjectMeta{Name: "Bad_Name", Namespace: "default"}, Spec: validPodSpec()}
	want = `Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`
	if err := Validate(pod); err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

func TestValidateMeta(t *testing.T) {
	longAnnotation := strings.Repeat("x", totalAnnotationSizeLimit)
	runValidationCases(t, []validationCase{
		{name: "valid namespace", obj: &Namespace{ObjectMeta: ObjectMeta{Name: "team-a"}}},
		{name: "namespace name must be a label", obj: &Namespace{ObjectMeta: ObjectMeta{Name: "team.a"}},
			causes: []string{`metadata.name: Invalid value: "team.a": must not contain dots`}},
		{name: "cluster-scoped with namespace", obj: &Node{ObjectMeta: ObjectMeta{Name: "n1", Namespace: "default"}},
			causes: []string{"metadata.namespace: Forbidden: not allowed on this type"}},
		{name: "namespaced without namespace", obj: &ConfigMap{ObjectMeta: ObjectMeta{Name: "c"}},
			causes: []string{"metadata.namespace: Required value"}},
		{name: "no name", obj: &ConfigMap{ObjectMeta: ObjectMeta{Namespace: "default"}},
			causes: []string{"metadata.name: Required value: name or generateName is required"}},
		{name: "generateName with dash", obj: &ConfigMap{ObjectMeta: ObjectMeta{GenerateName: "web-", Namespace: "default"}}},
		{name: "bad label key and value", obj: &ConfigMap{ObjectMeta: ObjectMeta{Name: "c", Namespace: "default", Labels: map[string]string{"-x": "ok", "app": "a b"}}},
			causes: []string{
				`metadata.labels: Invalid value: "-x": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
				`metadata.labels[app]: Invalid value: "a b": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
			}},
		{name: "annotations too large", obj: &ConfigMap{ObjectMeta: ObjectMeta{Name: "c", Namespace: "default", Annotations: map[string]string{"a": longAnnotation}}},
			causes: []string{"metadata.annotations: Too long: may not be more than 262144 bytes"}},
		{name: "two controllers", obj: &ConfigMap{ObjectMeta: ObjectMeta{Name: "c", Namespace: "default", OwnerReferences: []OwnerReference{
			{APIVersion: "v1", Kind: "A", Name: "a", UID: "1", Controller: BoolPtr(true)}, {APIVersion: "v1", Kind: "B", Name: "b", Controller: BoolPtr(true)}}}},
			causes: []string{
				"metadata.ownerReferences[1].uid: Required value",
				`metadata.ownerReferences: Invalid value: [{"apiVersion":"v1","kind":"A","name":"a","uid":"1","controller":true},{"apiVersion":"v1","kind":"B","name":"b","uid":"","controller":true}]: only one reference can have Controller set to true`,
			}},
	})
}

func TestValidatePod(t *testing.T) {
	pod := func(mut func(*PodSpec)) *Pod {
		p := &Pod{ObjectMeta: ObjectMeta{Name: "p", Namespace: "default"}, Spec: validPodSpec()}
		mut(&p.Spec)
		return p
	}
	c0 := "spec.containers[0]"
	runValidationCases(t, []validationCase{
		{name: "valid", obj: pod(func(*PodSpec) {})},
		{name: "no containers", obj: pod(func(s *PodSpec) { s.Containers = nil }), causes: []string{"spec.containers: Required value"}},
		{name: "duplicate container names across init", obj: pod(func(s *PodSpec) {
			s.InitContainers = []Container{{Name: "web", Image: "busybox"}}
		}), causes: []string{c0 + `.name: Duplicate value: "web"`}},
		{name: "container name not a label", obj: pod(func(s *PodSpec) { s.Containers[0].Name = "Web" }),
			causes: []string{c0 + `.name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
		{name: "port out of range", obj: pod(func(s *PodSpec) { s.Containers[0].Ports[0].ContainerPort = 70000 }),
			causes: []string{c0 + ".ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"}},
		{name: "bad protocol", obj: pod(func(s *PodSpec) { s.Containers[0].Ports[0].Protocol = "ICMP" }),
			causes: []string{c0 + `.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"`}},
		{name: "probe without handler", obj: pod(func(s *PodSpec) { s.Containers[0].LivenessProbe = &Probe{} }),
			causes: []string{c0 + ".livenessProbe: Required value: must specify a handler type"}},
		{name: "probe with two handlers", obj: pod(func(s *PodSpec) {
			s.Containers[0].LivenessProbe = &Probe{ProbeHandler: ProbeHandler{Exec: &ExecAction{Command: []string{"true"}}, TCPSocket: &TCPSocketAction{Port: intstr.FromInt32(80)}}}
		}), causes: []string{c0 + ".livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"}},
		{name: "liveness success threshold", obj: pod(func(s *PodSpec) {
			s.Containers[0].LivenessProbe = &Probe{ProbeHandler: ProbeHandler{TCPSocket: &TCPSocketAction{Port: intstr.FromInt32(80)}}, SuccessThreshold: 2}
		}), causes: []string{c0 + ".livenessProbe.successThreshold: Invalid value: 2: must be 1"}},
		{name: "restart policy", obj: pod(func(s *PodSpec) { s.RestartPolicy = "Sometimes" }),
			causes: []string{`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`}},
		{name: "negative quantity", obj: pod(func(s *PodSpec) { s.Containers[0].Resources.Limits["memory"] = resource.MustParse("-1Gi") }),
			causes: []string{c0 + `.resources.limits[memory]: Invalid value: "-1Gi": must be greater than or equal to 0`}},
		{name: "requests above limits", obj: pod(func(s *PodSpec) { s.Containers[0].Resources.Requests["cpu"] = resource.MustParse("2") }),
			causes: []string{c0 + `.resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1`}},
		{name: "mount of unknown volume", obj: pod(func(s *PodSpec) { s.Containers[0].VolumeMounts[0].Name = "cache" }),
			causes: []string{c0 + `.volumeMounts[0].name: Not found: "cache"`}},
		{name: "duplicate volume", obj: pod(func(s *PodSpec) { s.Volumes = append(s.Volumes, s.Volumes[0]) }),
			causes: []string{`spec.volumes[1].name: Duplicate value: "data"`}},
		{name: "two volume sources", obj: pod(func(s *PodSpec) { s.Volumes[0].HostPath = &HostPathVolumeSource{Path: "/tmp"} }),
			causes: []string{"spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type"}},
		{name: "toleration exists with value", obj: pod(func(s *PodSpec) { s.Tolerations = []Toleration{{Key: "k", Operator: "Exists", Value: "v"}} }),
			causes: []string{`spec.tolerations[0].operator: Invalid value: "v": value must be empty when ` + "`operator`" + ` is 'Exists'`}},
		{name: "activeDeadlineSeconds zero", obj: pod(func(s *PodSpec) { s.ActiveDeadlineSeconds = Int64Ptr(0) }),
			causes: []string{"spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"}},
	})
}

func TestValidateWorkloads(t *testing.T) {
	deploy := func(mut func(*Deployment)) *Deployment { d := validDeployment(); mut(d); return d }
	job := func(mut func(*Job)) *Job { j := validJob(); mut(j); return j }
	cj := func(mut func(*CronJob)) *CronJob { c := validCronJob(); mut(c); return c }
	runValidationCases(t, []validationCase{
		{name: "valid deployment", obj: deploy(func(*Deployment) {})},
		{name: "selector required", obj: deploy(func(d *Deployment) { d.Spec.Selector = nil }), causes: []string{"spec.selector: Required value"}},
		{name: "empty selector", obj: deploy(func(d *Deployment) { d.Spec.Selector = &LabelSelector{} }),
			causes: []string{"spec.selector: Invalid value: {}: empty selector is invalid for deployment"}},
		{name: "selector does not match template", obj: deploy(func(d *Deployment) { d.Spec.Template.Labels = map[string]string{"app": "api"} }),
			causes: []string{`spec.template.metadata.labels: Invalid value: {"app":"api"}: ` + "`selector` does not match template `labels`"}},
		{name: "deployment restartPolicy", obj: deploy(func(d *Deployment) { d.Spec.Template.Spec.RestartPolicy = "Never" }),
			causes: []string{`spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`}},
		{name: "recreate with rollingUpdate", obj: deploy(func(d *Deployment) {
			d.Spec.Strategy = DeploymentStrategy{Type: "Recreate", RollingUpdate: &RollingUpdateDeployment{}}
		}), causes: []string{"spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"}},
		{name: "surge and unavailable zero", obj: deploy(func(d *Deployment) {
			zero := intstr.FromInt32(0)
			pct := intstr.FromString("0%")
			d.Spec.Strategy = DeploymentStrategy{Type: "RollingUpdate", RollingUpdate: &RollingUpdateDeployment{MaxUnavailable: &pct, MaxSurge: &zero}}
		}), causes: []string{`spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when ` + "`maxSurge`" + ` is 0`}},
		{name: "progress deadline", obj: deploy(func(d *Deployment) { d.Spec.MinReadySeconds = 30; d.Spec.ProgressDeadlineSeconds = Int32Ptr(10) }),
			causes: []string{"spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds"}},
		{name: "valid statefulset", obj: validStatefulSet()},
		{name: "statefulset policy", obj: func() Object { s := validStatefulSet(); s.Spec.PodManagementPolicy = "Random"; return s }(),
			causes: []string{`spec.podManagementPolicy: Unsupported value: "Random": supported values: "OrderedReady", "Parallel"`}},
		{name: "valid job", obj: job(func(*Job) {})},
		{name: "job restartPolicy missing", obj: job(func(j *Job) { j.Spec.Template.Spec.RestartPolicy = "" }),
			causes: []string{`spec.template.spec.restartPolicy: Required value: supported values: "OnFailure", "Never"`}},
		{name: "job restartPolicy Always", obj: job(func(j *Job) { j.Spec.Template.Spec.RestartPolicy = "Always" }),
			causes: []string{`spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"`}},
		{name: "job counts", obj: job(func(j *Job) { j.Spec.BackoffLimit = Int32Ptr(-1); j.Spec.CompletionMode = "Indexed" }),
			causes: []string{"spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0", `spec.completionMode: Invalid value: "Indexed": not supported by skiff: only NonIndexed (the default) is; omit completionMode`}},
		{name: "valid cronjob", obj: cj(func(*CronJob) {})},
		{name: "cron descriptor", obj: cj(func(c *CronJob) { c.Spec.Schedule = "@hourly" })},
		{name: "cron bad schedule", obj: cj(func(c *CronJob) { c.Spec.Schedule = "61 * * * *" }),
			causes: []string{`spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61`}},
		{name: "cron six fields", obj: cj(func(c *CronJob) { c.Spec.Schedule = "0 0 3 * * *" }),
			causes: []string{`spec.schedule: Invalid value: "0 0 3 * * *": expected exactly 5 fields, found 6: [0 0 3 * * *]`}},
		{name: "cron TZ", obj: cj(func(c *CronJob) { c.Spec.Schedule = "TZ=UTC 0 3 * * *" }),
			causes: []string{`spec.schedule: Invalid value: "TZ=UTC 0 3 * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead`}},
		{name: "cron name too long", obj: cj(func(c *CronJob) { c.Name = strings.Repeat("a", 53) }),
			causes: []string{`metadata.name: Invalid value: "` + strings.Repeat("a", 53) + `": must be no more than 52 characters`}},
		{name: "cron policy and job template", obj: cj(func(c *CronJob) {
			c.Spec.ConcurrencyPolicy = "Sometimes"
			c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = "Always"
		}), causes: []string{
			`spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"`,
			`spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"`,
		}},
	})
}

func TestValidateCoreKinds(t *testing.T) {
	svc := func(mut func(*Service)) *Service { s := validService(); mut(s); return s }
	runValidationCases(t, []validationCase{
		{name: "valid service", obj: svc(func(*Service) {})},
		{name: "service name must be DNS-1035", obj: svc(func(s *Service) { s.Name = "1web" }),
			causes: []string{`metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`}},
		{name: "unnamed port among many", obj: svc(func(s *Service) { s.Spec.Ports[1].Name = "" }),
			causes: []string{"spec.ports[1].name: Required value: must be set when a service has more than one port"}},
		{name: "duplicate port names", obj: svc(func(s *Service) { s.Spec.Ports[1].Name = "http" }),
			causes: []string{`spec.ports[1].name: Duplicate value: "http"`}},
		{name: "port range and protocol", obj: svc(func(s *Service) { s.Spec.Ports[0].Port = 0; s.Spec.Ports[0].Protocol = "HTTP" }),
			causes: []string{"spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive", `spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"`}},
		{name: "bad type", obj: svc(func(s *Service) { s.Spec.Type = "Internal" }),
			causes: []string{`spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`}},
		{name: "clusterIP", obj: svc(func(s *Service) { s.Spec.ClusterIP = "10.0.0.300" }),
			causes: []string{`spec.clusterIP: Invalid value: "10.0.0.300": must be empty, 'None', or a valid IP address`}},
		{name: "headless without ports", obj: svc(func(s *Service) { s.Spec.ClusterIP = "None"; s.Spec.Ports = nil })},
		{name: "no ports", obj: svc(func(s *Service) { s.Spec.Ports = nil }), causes: []string{"spec.ports: Required value"}},
		{name: "nodePort on ClusterIP", obj: svc(func(s *Service) { s.Spec.Type = "ClusterIP"; s.Spec.Ports[0].NodePort = 30080 }),
			causes: []string{"spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"}},
		{name: "nodePort service", obj: svc(func(s *Service) { s.Spec.Type = "NodePort"; s.Spec.Ports[0].NodePort = 30080 })},
		{name: "external name", obj: svc(func(s *Service) {
			s.Spec.Type = "ExternalName"
			s.Spec.Ports = nil
			s.Spec.ExternalName = "db.example.com."
		})},
		{name: "configmap key", obj: &ConfigMap{ObjectMeta: ObjectMeta{Name: "c", Namespace: "d"}, Data: map[string]string{"a/b": "x"}},
			causes: []string{`data: Invalid value: "a/b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`}},
		{name: "tls secret keys", obj: &Secret{ObjectMeta: ObjectMeta{Name: "s", Namespace: "d"}, Type: "kubernetes.io/tls", Data: map[string][]byte{"tls.crt": nil}},
			causes: []string{"data[tls.key]: Required value"}},
		{name: "event", obj: &Event{ObjectMeta: ObjectMeta{Name: "e", Namespace: "d"}, InvolvedObject: ObjectReference{Kind: "Pod", Namespace: "other"}, Type: "Bad"},
			causes: []string{"involvedObject.name: Required value", `involvedObject.namespace: Invalid value: "other": does not match event.namespace`, `type: Unsupported value: "Bad": supported values: "Normal", "Warning"`}},
		{name: "lease", obj: &Lease{ObjectMeta: ObjectMeta{Name: "l", Namespace: "d"}, Spec: LeaseSpec{LeaseDurationSeconds: Int32Ptr(0)}},
			causes: []string{"spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"}},
		{name: "node taints", obj: &Node{ObjectMeta: ObjectMeta{Name: "n"}, Spec: NodeSpec{PodCIDR: "10.0.0.0/33", Taints: []Taint{{Key: "k", Effect: "NoSchedule"}, {Key: "k", Effect: "NoSchedule"}, {Key: "j", Effect: "Never"}}}},
			causes: []string{
				`spec.podCIDRs[0]: Invalid value: "10.0.0.0/33": must be a valid CIDR such as 10.244.1.0/24`,
				`spec.taints[1]: Duplicate value: "k:NoSchedule"`,
				`spec.taints[2].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`,
			}},
		{name: "endpoints", obj: &Endpoints{ObjectMeta: ObjectMeta{Name: "web", Namespace: "d"}, Subsets: []EndpointSubset{{Addresses: []EndpointAddress{{IP: "nope"}}, Ports: []EndpointPort{{Port: 80}}}}},
			causes: []string{`subsets[0].addresses[0].ip: Invalid value: "nope": must be a valid IP address`}},
	})
}

func TestValidateUpdate(t *testing.T) {
	pod := &Pod{ObjectMeta: ObjectMeta{Name: "p", Namespace: "default", UID: "u"}, Spec: validPodSpec()}
	SetDefaults(pod)
	podTests := []struct {
		name   string
		mut    func(*Pod)
		causes []string
	}{
		{name: "image change allowed", mut: func(p *Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }},
		{name: "labels change allowed", mut: func(p *Pod) { p.Labels = map[string]string{"x": "y"} }},
		{name: "toleration added", mut: func(p *Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, Toleration{Key: "k", Operator: "Exists"})
		}},
		{name: "deadline set", mut: func(p *Pod) { p.Spec.ActiveDeadlineSeconds = Int64Ptr(60) }},
		{name: "port change forbidden", mut: func(p *Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 81 }, causes: []string{
			"spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` (only additions to existing tolerations)"}},
		{name: "nodeName forbidden", mut: func(p *Pod) { p.Spec.NodeName = "n1" }, causes: []string{
			"spec.nodeName: Forbidden: may not be changed by an update; pods are bound to nodes through the pods/binding subresource"}},
		{name: "name immutable", mut: func(p *Pod) { p.Name = "q" }, causes: []string{`metadata.name: Invalid value: "q": field is immutable`}},
	}
	for _, tt := range podTests {
		t.Run(tt.name, func(t *testing.T) {
			updated := DeepCopy(pod)
			tt.mut(updated)
			err := ValidateUpdate(updated, pod)
			if len(tt.causes) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			assertCauses(t, err, tt.causes)
		})
	}

	t.Run("deadline may only shrink", func(t *testing.T) {
		old := DeepCopy(pod)
		old.Spec.ActiveDeadlineSeconds = Int64Ptr(60)
		updated := DeepCopy(old)
		updated.Spec.ActiveDeadlineSeconds = Int64Ptr(120)
		assertCauses(t, ValidateUpdate(updated, old), []string{"spec.activeDeadlineSeconds: Invalid value: 120: must be less than or equal to previous value"})
		updated.Spec.ActiveDeadlineSeconds = Int64Ptr(30)
		if err := ValidateUpdate(updated, old); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("deployment selector immutable", func(t *testing.T) {
		old := validDeployment()
		updated := validDeployment()
		updated.Spec.Selector = &LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
		updated.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}
		assertCauses(t, ValidateUpdate(updated, old), []string{`spec.selector: Invalid value: {"matchLabels":{"app":"web","v":"2"}}: field is immutable`})
		updated = validDeployment()
		updated.Spec.Replicas = Int32Ptr(10)
		if err := ValidateUpdate(updated, old); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("statefulset identity", func(t *testing.T) {
		old := validStatefulSet()
		updated := validStatefulSet()
		updated.Spec.Replicas = Int32Ptr(5)
		if err := ValidateUpdate(updated, old); err != nil {
			t.Fatal(err)
		}
		updated.Spec.ServiceName = "other"
		assertCauses(t, ValidateUpdate(updated, old), []string{"spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'template', 'updateStrategy', 'revisionHistoryLimit' and 'minReadySeconds' are forbidden"})
	})
	t.Run("service clusterIP", func(t *testing.T) {
		old := validService()
		old.Spec.ClusterIP = "10.96.0.10"
		updated := validService()
		updated.Spec.ClusterIP = "10.96.0.11"
		assertCauses(t, ValidateUpdate(updated, old), []string{`spec.clusterIP: Invalid value: "10.96.0.11": field is immutable`})
	})
	t.Run("immutable configmap", func(t *testing.T) {
		old := &ConfigMap{ObjectMeta: ObjectMeta{Name: "c", Namespace: "d"}, Immutable: BoolPtr(true), Data: map[string]string{"a": "1"}}
		updated := DeepCopy(old)
		updated.Data["a"] = "2"
		updated.Immutable = nil
		assertCauses(t, ValidateUpdate(updated, old), []string{
			"immutable: Forbidden: field is immutable when `immutable` is set",
			"data: Forbidden: field is immutable when `immutable` is set",
		})
	})
	t.Run("job template immutable", func(t *testing.T) {
		old := validJob()
		updated := validJob()
		updated.Spec.Template.Spec.Containers[0].Image = "perl:6"
		err := ValidateUpdate(updated, old)
		if err == nil || !strings.Contains(err.Error(), "spec.template: Invalid value: ") || !strings.HasSuffix(err.Error(), "field is immutable") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("kind change", func(t *testing.T) {
		err := ValidateUpdate(&ConfigMap{ObjectMeta: ObjectMeta{Name: "c", Namespace: "d"}}, &Secret{})
		if !IsInvalid(err) {
			t.Fatalf("got %v", err)
		}
	})
}
