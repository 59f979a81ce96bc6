package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/cmd/skiff/app/printers"
	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

func (d *describer) pod(p *api.Pod) {
	w := d.w
	node := orNone(p.Spec.NodeName)
	if p.Status.HostIP != "" {
		node += "/" + p.Status.HostIP
	}
	w.field(0, "Node", node)
	if p.Status.StartTime != nil {
		w.field(0, "Start Time", p.Status.StartTime.Format(time.RFC1123Z))
	}
	_, _, _, status, _ := printers.PodSummary(p)
	w.field(0, "Status", status)
	w.field(0, "IP", orNone(p.Status.PodIP))
	if len(p.Spec.InitContainers) > 0 {
		w.field(0, "Init Containers", "")
		d.containers(p.Spec.InitContainers, p.Status.InitContainerStatuses)
	}
	w.field(0, "Containers", "")
	d.containers(p.Spec.Containers, p.Status.ContainerStatuses)
	if len(p.Status.Conditions) > 0 {
		w.field(0, "Conditions", "")
		w.text(1, fmt.Sprintf("%-16s %s", "Type", "Status"))
		for _, c := range p.Status.Conditions {
			w.text(1, fmt.Sprintf("%-16s %s", c.Type, c.Status))
		}
	}
	w.field(0, "Node-Selectors", multiline(p.Spec.NodeSelector))
	var tolerations []string
	for _, t := range p.Spec.Tolerations {
		tolerations = append(tolerations, fmt.Sprintf("%s:%s op=%s", t.Key, t.Effect, t.Operator))
	}
	w.field(0, "Tolerations", orNone(strings.Join(tolerations, ", ")))
}

func (d *describer) containers(specs []api.Container, statuses []api.ContainerStatus) {
	w := d.w
	for i := range specs {
		c := &specs[i]
		w.field(1, c.Name, "")
		w.field(2, "Image", c.Image)
		var ports []string
		for _, p := range c.Ports {
			ports = append(ports, fmt.Sprintf("%d/%s", p.ContainerPort, orDefault(p.Protocol, "TCP")))
		}
		w.field(2, "Port", orNone(strings.Join(ports, ", ")))
		if len(c.Command) > 0 {
			w.field(2, "Command", strings.Join(c.Command, " "))
		}
		if len(c.Args) > 0 {
			w.field(2, "Args", strings.Join(c.Args, " "))
		}
		for _, cs := range statuses {
			if cs.Name != c.Name {
				continue
			}
			state(w, "State", cs.State)
			if cs.LastTerminationState.Terminated != nil {
				state(w, "Last State", cs.LastTerminationState)
			}
			w.field(2, "Ready", printersBool(cs.Ready))
			w.field(2, "Restart Count", fmt.Sprint(cs.RestartCount))
		}
		containerDetails(w, c)
	}
}

func state(w *sectionWriter, label string, s api.ContainerState) {
	switch {
	case s.Running != nil:
		w.field(2, label, "Running")
		w.field(3, "Started", s.Running.StartedAt.Format(time.RFC1123Z))
	case s.Waiting != nil:
		w.field(2, label, "Waiting")
		w.field(3, "Reason", orNone(s.Waiting.Reason))
		if s.Waiting.Message != "" {
			w.field(3, "Message", s.Waiting.Message)
		}
	case s.Terminated != nil:
		w.field(2, label, "Terminated")
		w.field(3, "Reason", orNone(s.Terminated.Reason))
		w.field(3, "Exit Code", fmt.Sprint(s.Terminated.ExitCode))
		w.field(3, "Finished", s.Terminated.FinishedAt.Format(time.RFC1123Z))
	default:
		w.field(2, label, "Waiting")
	}
}

func (d *describer) deployment(ctx context.Context, dep *api.Deployment) error {
	w := d.w
	w.field(0, "Selector", orNone(api.LabelSelectorString(dep.Spec.Selector)))
	desired := int32(1)
	if dep.Spec.Replicas != nil {
		desired = *dep.Spec.Replicas
	}
	st := dep.Status
	w.field(0, "Replicas", fmt.Sprintf("%d desired | %d updated | %d total | %d available | %d unavailable",
		desired, st.UpdatedReplicas, st.Replicas, st.AvailableReplicas, st.UnavailableReplicas))
	w.field(0, "StrategyType", dep.Spec.Strategy.Type)
	w.field(0, "MinReadySeconds", fmt.Sprint(dep.Spec.MinReadySeconds))
	if ru := dep.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil && ru.MaxSurge != nil {
		w.field(0, "RollingUpdateStrategy", fmt.Sprintf("%s max unavailable, %s max surge", ru.MaxUnavailable.String(), ru.MaxSurge.String()))
	}
	w.field(0, "Pod Template", "")
	w.field(1, "Labels", multiline(dep.Spec.Template.Labels))
	w.field(1, "Containers", "")
	d.containers(dep.Spec.Template.Spec.Containers, nil)
	if len(st.Conditions) > 0 {
		w.field(0, "Conditions", "")
		w.text(1, fmt.Sprintf("%-16s %-7s %s", "Type", "Status", "Reason"))
		for _, c := range st.Conditions {
			w.text(1, fmt.Sprintf("%-16s %-7s %s", c.Type, c.Status, c.Reason))
		}
	}
	oldRS, newRS, err := d.replicaSetsOf(ctx, dep)
	if err != nil {
		return err
	}
	w.field(0, "OldReplicaSets", orNone(strings.Join(oldRS, ", ")))
	w.field(0, "NewReplicaSet", orNone(newRS))
	return nil
}

// replicaSetsOf finds the ReplicaSets the deployment controls: the one
// whose template matches the deployment's is new, the others are old.
func (d *describer) replicaSetsOf(ctx context.Context, dep *api.Deployment) (old []string, newRS string, err error) {
	list, err := client.List[*api.ReplicaSet](ctx, d.c, dep.Namespace, client.ListOptions{LabelSelector: api.LabelSelectorString(dep.Spec.Selector)})
	if err != nil {
		return nil, "", fmt.Errorf("list the replica sets of deployment %q: %w", dep.Name, err)
	}
	for _, rs := range list.Items {
		if !rs.IsControlledBy(dep.UID) {
			continue
		}
		line := fmt.Sprintf("%s (%d/%d replicas created)", rs.Name, rs.Status.Replicas, derefInt32(rs.Spec.Replicas))
		if rs.Annotations["deployment.kubernetes.io/revision"] == dep.Annotations["deployment.kubernetes.io/revision"] && newRS == "" {
			newRS = line
		} else {
			old = append(old, line)
		}
	}
	return old, newRS, nil
}

func (d *describer) service(ctx context.Context, s *api.Service) error {
	w := d.w
	w.field(0, "Selector", api.FormatLabels(s.Spec.Selector))
	w.field(0, "Type", s.Spec.Type)
	w.field(0, "IP", orNone(s.Spec.ClusterIP))
	if len(s.Spec.ExternalIPs) > 0 {
		w.field(0, "External IPs", strings.Join(s.Spec.ExternalIPs, ","))
	}
	ep, err := client.Get[*api.Endpoints](ctx, d.c, s.Namespace, s.Name)
	if err != nil && !api.IsNotFound(err) {
		return err
	}
	for _, p := range s.Spec.Ports {
		name := orDefault(p.Name, "<unset>")
		w.field(0, "Port", fmt.Sprintf("%s  %d/%s", name, p.Port, p.Protocol))
		w.field(0, "TargetPort", fmt.Sprintf("%s/%s", p.TargetPort.String(), p.Protocol))
		if p.NodePort != 0 {
			w.field(0, "NodePort", fmt.Sprintf("%s  %d/%s", name, p.NodePort, p.Protocol))
		}
		endpoints := "<none>"
		if ep != nil {
			endpoints = printers.FormatEndpoints(ep, 1<<20)
		}
		w.field(0, "Endpoints", endpoints)
	}
	w.field(0, "Session Affinity", orDefault(s.Spec.SessionAffinity, "None"))
	return nil
}

func (d *describer) node(n *api.Node) {
	w := d.w
	w.field(0, "Status", printers.NodeStatus(n))
	w.field(0, "Unschedulable", printersBool(n.Spec.Unschedulable))
	var taints []string
	for _, t := range n.Spec.Taints {
		taints = append(taints, fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect))
	}
	w.field(0, "Taints", orNone(strings.Join(taints, ", ")))
	w.field(0, "Conditions", "")
	w.text(1, fmt.Sprintf("%-16s %-7s %s", "Type", "Status", "Reason"))
	for _, c := range n.Status.Conditions {
		w.text(1, fmt.Sprintf("%-16s %-7s %s", c.Type, c.Status, c.Reason))
	}
	w.field(0, "Addresses", "")
	for _, a := range n.Status.Addresses {
		w.field(1, a.Type, a.Address)
	}
	for _, section := range []struct {
		name string
		list api.ResourceList
	}{{"Capacity", n.Status.Capacity}, {"Allocatable", n.Status.Allocatable}} {
		w.field(0, section.name, "")
		for _, k := range slices.Sorted(maps.Keys(section.list)) {
			q := section.list[k]
			w.field(1, k, q.String())
		}
	}
	info := n.Status.NodeInfo
	w.field(0, "System Info", "")
	w.field(1, "Kernel Version", info.KernelVersion)
	w.field(1, "OS Image", info.OSImage)
	w.field(1, "Container Runtime Version", info.ContainerRuntimeVersion)
	w.field(1, "Agent Version", info.KubeletVersion)
	w.field(0, "PodCIDR", orNone(n.Spec.PodCIDR))
}

func orNone(s string) string { return orDefault(s, "<none>") }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func printersBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func derefInt32(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}
