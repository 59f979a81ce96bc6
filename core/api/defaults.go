package api

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// SetDefaults fills the fields a user may omit with Kubernetes' defaults, so
// that controllers and agents never see an unset knob. It is idempotent: a
// defaulted object is left unchanged. The API server calls it on create and
// update before Validate; for Jobs it must set metadata.uid first so the
// pod selector can be generated.
func SetDefaults(obj Object) {
	switch o := obj.(type) {
	case *Namespace:
		if o.Status.Phase == "" {
			o.Status.Phase = "Active"
		}
	case *Pod:
		defaultPodSpec(&o.Spec, true)
		if o.Status.Phase == "" {
			o.Status.Phase = PodPending
		}
		if o.Status.QOSClass == "" {
			o.Status.QOSClass = PodQOSClass(o)
		}
	case *Service:
		defaultService(o)
	case *Secret:
		defaultSecret(o)
	case *Deployment:
		defaultDeployment(o)
	case *ReplicaSet:
		defaultInt32(&o.Spec.Replicas, 1)
		defaultPodSpec(&o.Spec.Template.Spec, true)
	case *DaemonSet:
		defaultDaemonSet(o)
	case *StatefulSet:
		defaultStatefulSet(o)
	case *Job:
		generateJobSelector(o)
		defaultJobSpec(&o.Spec)
	case *CronJob:
		defaultCronJob(o)
	case *Event:
		if o.Count == 0 {
			o.Count = 1
		}
		if o.Type == "" {
			o.Type = "Normal"
		}
	}
}

func defaultInt32(p **int32, v int32) {
	if *p == nil {
		*p = &v
	}
}

func defaultInt64(p **int64, v int64) {
	if *p == nil {
		*p = &v
	}
}

func defaultString(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func defaultIntOrString(p **intstr.IntOrString, v intstr.IntOrString) {
	if *p == nil {
		*p = &v
	}
}

// defaultPodSpec defaults a pod or pod template. restartPolicy is left unset
// for Job templates, where the user must choose OnFailure or Never.
func defaultPodSpec(spec *PodSpec, defaultRestartPolicy bool) {
	if defaultRestartPolicy {
		defaultString(&spec.RestartPolicy, "Always")
	}
	defaultInt64(&spec.TerminationGracePeriodSeconds, 30)
	defaultString(&spec.DNSPolicy, "ClusterFirst")
	defaultString(&spec.SchedulerName, "default-scheduler")
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i], spec.HostNetwork)
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i], spec.HostNetwork)
	}
	for i := range spec.Volumes {
		defaultVolume(&spec.Volumes[i])
	}
	for i := range spec.Tolerations {
		defaultString(&spec.Tolerations[i].Operator, "Equal")
	}
}

func defaultContainer(c *Container, hostNetwork bool) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	for i := range c.Ports {
		p := &c.Ports[i]
		defaultString(&p.Protocol, "TCP")
		if hostNetwork && p.HostPort == 0 {
			p.HostPort = p.ContainerPort
		}
	}
	// Requests default to limits, so a container with only limits is
	// scheduled by what it may use.
	for name, q := range c.Resources.Limits {
		if _, ok := c.Resources.Requests[name]; !ok {
			if c.Resources.Requests == nil {
				c.Resources.Requests = ResourceList{}
			}
			c.Resources.Requests[name] = q.DeepCopy()
		}
	}
	for _, p := range []*Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p != nil {
			defaultProbe(p)
		}
	}
}

// defaultPullPolicy is Always for :latest or untagged images, whose content
// can change under the same name, and IfNotPresent for pinned ones.
func defaultPullPolicy(image string) string {
	if strings.Contains(image, "@") {
		return "IfNotPresent"
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, tagged := strings.Cut(name, ":")
	if !tagged || tag == "latest" {
		return "Always"
	}
	return "IfNotPresent"
}

func defaultProbe(p *Probe) {
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if h := p.HTTPGet; h != nil {
		defaultString(&h.Path, "/")
		defaultString(&h.Scheme, "HTTP")
	}
}

func defaultVolume(v *Volume) {
	s := &v.VolumeSource
	if s.HostPath == nil && s.EmptyDir == nil && s.Secret == nil && s.ConfigMap == nil {
		s.EmptyDir = &EmptyDirVolumeSource{}
	}
	if s.Secret != nil {
		defaultInt32(&s.Secret.DefaultMode, 0o644)
	}
	if s.ConfigMap != nil {
		defaultInt32(&s.ConfigMap.DefaultMode, 0o644)
	}
}

func defaultService(s *Service) {
	spec := &s.Spec
	defaultString(&spec.Type, "ClusterIP")
	defaultString(&spec.SessionAffinity, "None")
	if spec.SessionAffinity == "ClientIP" {
		if spec.SessionAffinityConfig == nil {
			spec.SessionAffinityConfig = &SessionAffinityConfig{}
		}
		if spec.SessionAffinityConfig.ClientIP == nil {
			spec.SessionAffinityConfig.ClientIP = &ClientIPConfig{}
		}
		defaultInt32(&spec.SessionAffinityConfig.ClientIP.TimeoutSeconds, 10800)
	}
	if spec.Type == "NodePort" || spec.Type == "LoadBalancer" {
		defaultString(&spec.ExternalTrafficPolicy, "Cluster")
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		defaultString(&p.Protocol, "TCP")
		if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 ||
			p.TargetPort.Type == intstr.String && p.TargetPort.StrVal == "" {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
}

// defaultSecret folds the write-only stringData into data, as the
// Kubernetes API server does, so readers see one map.
func defaultSecret(s *Secret) {
	defaultString(&s.Type, "Opaque")
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}

func defaultDeployment(d *Deployment) {
	spec := &d.Spec
	defaultInt32(&spec.Replicas, 1)
	defaultString(&spec.Strategy.Type, "RollingUpdate")
	if spec.Strategy.Type == "RollingUpdate" {
		if spec.Strategy.RollingUpdate == nil {
			spec.Strategy.RollingUpdate = &RollingUpdateDeployment{}
		}
		defaultIntOrString(&spec.Strategy.RollingUpdate.MaxUnavailable, intstr.FromString("25%"))
		defaultIntOrString(&spec.Strategy.RollingUpdate.MaxSurge, intstr.FromString("25%"))
	}
	defaultInt32(&spec.RevisionHistoryLimit, 10)
	defaultInt32(&spec.ProgressDeadlineSeconds, 600)
	defaultPodSpec(&spec.Template.Spec, true)
}

func defaultDaemonSet(d *DaemonSet) {
	spec := &d.Spec
	defaultString(&spec.UpdateStrategy.Type, "RollingUpdate")
	if spec.UpdateStrategy.Type == "RollingUpdate" {
		if spec.UpdateStrategy.RollingUpdate == nil {
			spec.UpdateStrategy.RollingUpdate = &RollingUpdateDaemonSet{}
		}
		defaultIntOrString(&spec.UpdateStrategy.RollingUpdate.MaxUnavailable, intstr.FromInt32(1))
		defaultIntOrString(&spec.UpdateStrategy.RollingUpdate.MaxSurge, intstr.FromInt32(0))
	}
	defaultInt32(&spec.RevisionHistoryLimit, 10)
	defaultPodSpec(&spec.Template.Spec, true)
}

func defaultStatefulSet(s *StatefulSet) {
	spec := &s.Spec
	defaultInt32(&spec.Replicas, 1)
	defaultString(&spec.PodManagementPolicy, "OrderedReady")
	defaultString(&spec.UpdateStrategy.Type, "RollingUpdate")
	if spec.UpdateStrategy.Type == "RollingUpdate" {
		if spec.UpdateStrategy.RollingUpdate == nil {
			spec.UpdateStrategy.RollingUpdate = &RollingUpdateStatefulSetStrategy{}
		}
		defaultInt32(&spec.UpdateStrategy.RollingUpdate.Partition, 0)
	}
	defaultInt32(&spec.RevisionHistoryLimit, 10)
	defaultPodSpec(&spec.Template.Spec, true)
}

// defaultJobSpec follows Kubernetes: with neither completions nor
// parallelism set the job runs one pod to completion; parallelism alone
// leaves completions unset (a work queue).
func defaultJobSpec(spec *JobSpec) {
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = Int32Ptr(1)
	}
	defaultInt32(&spec.Parallelism, 1)
	defaultInt32(&spec.BackoffLimit, 6)
	defaultString(&spec.CompletionMode, "NonIndexed")
	if spec.Suspend == nil {
		spec.Suspend = BoolPtr(false)
	}
	defaultPodSpec(&spec.Template.Spec, false)
}

// Labels the API server puts on a Job's pods to tie them to that one Job.
const (
	JobControllerUIDLabel = "batch.kubernetes.io/controller-uid"
	JobNameLabel          = "batch.kubernetes.io/job-name"
)

// generateJobSelector gives a Job without manualSelector a selector unique to
// it (its uid), and puts those labels on its pod template, so a recreated
// Job of the same name never adopts the old one's pods.
func generateJobSelector(j *Job) {
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector || j.Spec.Selector != nil || j.UID == "" {
		return
	}
	tmpl := &j.Spec.Template.ObjectMeta
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[JobControllerUIDLabel] = j.UID
	tmpl.Labels[JobNameLabel] = j.Name
	j.Spec.Selector = &LabelSelector{MatchLabels: map[string]string{JobControllerUIDLabel: j.UID}}
}

func defaultCronJob(c *CronJob) {
	spec := &c.Spec
	defaultString(&spec.ConcurrencyPolicy, "Allow")
	if spec.Suspend == nil {
		spec.Suspend = BoolPtr(false)
	}
	defaultInt32(&spec.SuccessfulJobsHistoryLimit, 3)
	defaultInt32(&spec.FailedJobsHistoryLimit, 1)
	defaultJobSpec(&spec.JobTemplate.Spec)
}
