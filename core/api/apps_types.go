package api

import (
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// LabelSelector selects objects by labels (matchLabels AND matchExpressions).
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"` // In, NotIn, Exists, DoesNotExist
	Values   []string `json:"values,omitempty"`
}

// PodTemplateSpec is the pod a workload creates.
type PodTemplateSpec struct {
	ObjectMeta `json:"metadata,omitzero"`
	Spec       PodSpec `json:"spec,omitzero"`
}

// Deployment manages ReplicaSets to roll out a pod template.
type Deployment struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       DeploymentSpec   `json:"spec,omitzero"`
	Status     DeploymentStatus `json:"status,omitzero"`
}

type DeploymentSpec struct {
	Replicas                *int32             `json:"replicas,omitempty"`
	Selector                *LabelSelector     `json:"selector"`
	Template                PodTemplateSpec    `json:"template"`
	Strategy                DeploymentStrategy `json:"strategy,omitzero"`
	MinReadySeconds         int32              `json:"minReadySeconds,omitempty"`
	RevisionHistoryLimit    *int32             `json:"revisionHistoryLimit,omitempty"`
	Paused                  bool               `json:"paused,omitempty"`
	ProgressDeadlineSeconds *int32             `json:"progressDeadlineSeconds,omitempty"`
}

type DeploymentStrategy struct {
	Type          string                   `json:"type,omitempty"` // RollingUpdate, Recreate
	RollingUpdate *RollingUpdateDeployment `json:"rollingUpdate,omitempty"`
}

type RollingUpdateDeployment struct {
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	MaxSurge       *intstr.IntOrString `json:"maxSurge,omitempty"`
}

type DeploymentStatus struct {
	ObservedGeneration  int64                 `json:"observedGeneration,omitempty"`
	Replicas            int32                 `json:"replicas,omitempty"`
	UpdatedReplicas     int32                 `json:"updatedReplicas,omitempty"`
	ReadyReplicas       int32                 `json:"readyReplicas,omitempty"`
	AvailableReplicas   int32                 `json:"availableReplicas,omitempty"`
	UnavailableReplicas int32                 `json:"unavailableReplicas,omitempty"`
	Conditions          []DeploymentCondition `json:"conditions,omitempty"`
	CollisionCount      *int32                `json:"collisionCount,omitempty"`
}

// DeploymentCondition is also used by ReplicaSets, DaemonSets and StatefulSets.
type DeploymentCondition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	LastUpdateTime     time.Time `json:"lastUpdateTime,omitzero"`
	LastTransitionTime time.Time `json:"lastTransitionTime,omitzero"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
}

// ReplicaSet keeps a number of identical pods running.
type ReplicaSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       ReplicaSetSpec   `json:"spec,omitzero"`
	Status     ReplicaSetStatus `json:"status,omitzero"`
}

type ReplicaSetSpec struct {
	Replicas        *int32          `json:"replicas,omitempty"`
	MinReadySeconds int32           `json:"minReadySeconds,omitempty"`
	Selector        *LabelSelector  `json:"selector"`
	Template        PodTemplateSpec `json:"template,omitzero"`
}

type ReplicaSetStatus struct {
	Replicas             int32                 `json:"replicas"`
	FullyLabeledReplicas int32                 `json:"fullyLabeledReplicas,omitempty"`
	ReadyReplicas        int32                 `json:"readyReplicas,omitempty"`
	AvailableReplicas    int32                 `json:"availableReplicas,omitempty"`
	ObservedGeneration   int64                 `json:"observedGeneration,omitempty"`
	Conditions           []DeploymentCondition `json:"conditions,omitempty"`
}

// DaemonSet runs one pod on each eligible node.
type DaemonSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       DaemonSetSpec   `json:"spec,omitzero"`
	Status     DaemonSetStatus `json:"status,omitzero"`
}

type DaemonSetSpec struct {
	Selector             *LabelSelector          `json:"selector"`
	Template             PodTemplateSpec         `json:"template"`
	UpdateStrategy       DaemonSetUpdateStrategy `json:"updateStrategy,omitzero"`
	MinReadySeconds      int32                   `json:"minReadySeconds,omitempty"`
	RevisionHistoryLimit *int32                  `json:"revisionHistoryLimit,omitempty"`
}

type DaemonSetUpdateStrategy struct {
	Type          string                  `json:"type,omitempty"` // RollingUpdate, OnDelete
	RollingUpdate *RollingUpdateDaemonSet `json:"rollingUpdate,omitempty"`
}

type RollingUpdateDaemonSet struct {
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	MaxSurge       *intstr.IntOrString `json:"maxSurge,omitempty"`
}

type DaemonSetStatus struct {
	CurrentNumberScheduled int32                 `json:"currentNumberScheduled"`
	NumberMisscheduled     int32                 `json:"numberMisscheduled"`
	DesiredNumberScheduled int32                 `json:"desiredNumberScheduled"`
	NumberReady            int32                 `json:"numberReady"`
	ObservedGeneration     int64                 `json:"observedGeneration,omitempty"`
	UpdatedNumberScheduled int32                 `json:"updatedNumberScheduled,omitempty"`
	NumberAvailable        int32                 `json:"numberAvailable,omitempty"`
	NumberUnavailable      int32                 `json:"numberUnavailable,omitempty"`
	Conditions             []DeploymentCondition `json:"conditions,omitempty"`
}

// StatefulSet runs pods with stable ordinal names.
type StatefulSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       StatefulSetSpec   `json:"spec,omitzero"`
	Status     StatefulSetStatus `json:"status,omitzero"`
}

type StatefulSetSpec struct {
	Replicas             *int32                    `json:"replicas,omitempty"`
	Selector             *LabelSelector            `json:"selector"`
	Template             PodTemplateSpec           `json:"template"`
	ServiceName          string                    `json:"serviceName,omitempty"`
	PodManagementPolicy  string                    `json:"podManagementPolicy,omitempty"` // OrderedReady, Parallel
	UpdateStrategy       StatefulSetUpdateStrategy `json:"updateStrategy,omitzero"`
	RevisionHistoryLimit *int32                    `json:"revisionHistoryLimit,omitempty"`
	MinReadySeconds      int32                     `json:"minReadySeconds,omitempty"`
}

type StatefulSetUpdateStrategy struct {
	Type          string                            `json:"type,omitempty"` // RollingUpdate, OnDelete
	RollingUpdate *RollingUpdateStatefulSetStrategy `json:"rollingUpdate,omitempty"`
}

type RollingUpdateStatefulSetStrategy struct {
	Partition      *int32              `json:"partition,omitempty"`
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

type StatefulSetStatus struct {
	ObservedGeneration int64                 `json:"observedGeneration,omitempty"`
	Replicas           int32                 `json:"replicas"`
	ReadyReplicas      int32                 `json:"readyReplicas,omitempty"`
	CurrentReplicas    int32                 `json:"currentReplicas,omitempty"`
	UpdatedReplicas    int32                 `json:"updatedReplicas,omitempty"`
	CurrentRevision    string                `json:"currentRevision,omitempty"`
	UpdateRevision     string                `json:"updateRevision,omitempty"`
	AvailableReplicas  int32                 `json:"availableReplicas,omitempty"`
	Conditions         []DeploymentCondition `json:"conditions,omitempty"`
}

// Scale is the scale subresource of Deployments, ReplicaSets and StatefulSets.
type Scale struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       ScaleSpec   `json:"spec,omitzero"`
	Status     ScaleStatus `json:"status,omitzero"`
}

type ScaleSpec struct {
	Replicas int32 `json:"replicas,omitempty"`
}

type ScaleStatus struct {
	Replicas int32  `json:"replicas"`
	Selector string `json:"selector,omitempty"`
}
