package printers

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/sdk/network"
)

// tables maps a Kind to its table; kinds not here print NAME AGE.
var tables = map[string]kindTable{
	"Pod": podTable, "Deployment": deploymentTable, "ReplicaSet": replicaSetTable,
	"DaemonSet": daemonSetTable, "StatefulSet": statefulSetTable, "Job": jobTable, "CronJob": cronJobTable,
	"Service": serviceTable, "Endpoints": endpointsTable, "Node": nodeTable, "Namespace": namespaceTable,
	"ConfigMap": configMapTable, "Secret": secretTable, "Event": eventTable, "Lease": leaseTable,
}

var serviceTable = kindTable{
	columns: cols("NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR+"),
	row: func(obj api.Object, now time.Time) []string {
		s := obj.(*api.Service)
		return []string{
			s.Name, s.Spec.Type, orNone(s.Spec.ClusterIP), serviceExternalIP(s), ServicePorts(s.Spec.Ports),
			Age(s.CreationTimestamp, now), api.FormatLabels(s.Spec.Selector),
		}
	},
}

// ServicePorts renders ports as kubectl: "80/TCP", "80:32184/TCP".
func ServicePorts(ports []api.ServicePort) string {
	if len(ports) == 0 {
		return "<none>"
	}
	out := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort != 0 {
			out[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			out[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(out, ",")
}

func serviceExternalIP(s *api.Service) string {
	switch s.Spec.Type {
	case "ExternalName":
		return s.Spec.ExternalName
	case "LoadBalancer":
		var ips []string
		for _, in := range s.Status.LoadBalancer.Ingress {
			ips = append(ips, in.IP+in.Hostname)
		}
		ips = append(ips, s.Spec.ExternalIPs...)
		if len(ips) == 0 {
			return "<pending>"
		}
		return strings.Join(ips, ",")
	}
	return orNone(strings.Join(s.Spec.ExternalIPs, ","))
}

var endpointsTable = kindTable{
	columns: cols("NAME", "ENDPOINTS", "AGE"),
	row: func(obj api.Object, now time.Time) []string {
		ep := obj.(*api.Endpoints)
		return []string{ep.Name, FormatEndpoints(ep, 3), Age(ep.CreationTimestamp, now)}
	},
}

// FormatEndpoints lists up to max ready ip:port pairs, then "+ N more...".
func FormatEndpoints(ep *api.Endpoints, max int) string {
	var list []string
	count := 0
	add := func(s string) {
		count++
		if len(list) < max {
			list = append(list, s)
		}
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 { // headless service without ports
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	if len(list) == 0 {
		return "<none>"
	}
	out := strings.Join(list, ",")
	if count > max {
		out += fmt.Sprintf(" + %d more...", count-max)
	}
	return out
}

var nodeTable = kindTable{
	columns: cols("NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP+", "EXTERNAL-IP+", "OS-IMAGE+", "KERNEL-VERSION+", "CONTAINER-RUNTIME+", "BACKEND+"),
	row: func(obj api.Object, now time.Time) []string {
		n := obj.(*api.Node)
		info := n.Status.NodeInfo
		return []string{
			n.Name, NodeStatus(n), nodeRoles(n), Age(n.CreationTimestamp, now), info.KubeletVersion,
			nodeAddress(n, "InternalIP"), nodeAddress(n, "ExternalIP"), orUnknown(info.OSImage),
			orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion), orNone(n.Annotations[network.AnnotationBackend]),
		}
	},
}

// NodeStatus is Ready, NotReady or Unknown, plus SchedulingDisabled when
// the node is cordoned.
func NodeStatus(n *api.Node) string {
	status := "Unknown"
	if c := api.GetNodeCondition(&n.Status, "Ready"); c != nil {
		switch c.Status {
		case "True":
			status = "Ready"
		case "False":
			status = "NotReady"
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

const nodeRolePrefix = "node-role.kubernetes.io/"

func nodeRoles(n *api.Node) string {
	var roles []string
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, nodeRolePrefix) && len(k) > len(nodeRolePrefix):
			roles = append(roles, k[len(nodeRolePrefix):])
		case k == "kubernetes.io/role" && v != "":
			roles = append(roles, v)
		}
	}
	if len(roles) == 0 {
		return "<none>"
	}
	sort.Strings(roles)
	return strings.Join(roles, ",")
}

func nodeAddress(n *api.Node, typ string) string {
	for _, a := range n.Status.Addresses {
		if a.Type == typ {
			return a.Address
		}
	}
	return "<none>"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

var namespaceTable = kindTable{
	columns: cols("NAME", "STATUS", "AGE"),
	row: func(obj api.Object, now time.Time) []string {
		ns := obj.(*api.Namespace)
		return []string{ns.Name, ns.Status.Phase, Age(ns.CreationTimestamp, now)}
	},
}

var configMapTable = kindTable{
	columns: cols("NAME", "DATA", "AGE"),
	row: func(obj api.Object, now time.Time) []string {
		cm := obj.(*api.ConfigMap)
		return []string{cm.Name, itoa(len(cm.Data) + len(cm.BinaryData)), Age(cm.CreationTimestamp, now)}
	},
}

var secretTable = kindTable{
	columns: cols("NAME", "TYPE", "DATA", "AGE"),
	row: func(obj api.Object, now time.Time) []string {
		s := obj.(*api.Secret)
		return []string{s.Name, s.Type, itoa(len(s.Data)), Age(s.CreationTimestamp, now)}
	},
}

var eventTable = kindTable{
	columns: cols("LAST SEEN", "TYPE", "REASON", "OBJECT", "SOURCE+", "MESSAGE", "FIRST SEEN+", "COUNT+", "NAME+"),
	row: func(obj api.Object, now time.Time) []string {
		e := obj.(*api.Event)
		return []string{
			Age(EventLastSeen(e), now), e.Type, e.Reason, EventObject(e), e.Source.Component, e.Message,
			Age(e.FirstTimestamp, now), itoa(e.Count), e.Name,
		}
	},
}

// EventLastSeen is the event's last timestamp, else its first, else its
// creation time.
func EventLastSeen(e *api.Event) time.Time {
	for _, t := range []time.Time{e.LastTimestamp, e.FirstTimestamp, e.CreationTimestamp} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// EventObject names the involved object as kubectl: "deployment/web".
func EventObject(e *api.Event) string {
	return strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
}

var leaseTable = kindTable{
	columns: cols("NAME", "HOLDER", "AGE"),
	row: func(obj api.Object, now time.Time) []string {
		l := obj.(*api.Lease)
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		return []string{l.Name, holder, Age(l.CreationTimestamp, now)}
	},
}
