package api

import "testing"

func TestParseFieldSelector(t *testing.T) {
	pods, _ := ResourceForKind("Pod")
	events, _ := ResourceForKind("Event")
	nodes, _ := ResourceForKind("Node")
	cms, _ := ResourceForKind("ConfigMap")
	running := &Pod{ObjectMeta: ObjectMeta{Name: "a", Namespace: "ns1"}, Spec: PodSpec{NodeName: "n1", RestartPolicy: "Always"}, Status: PodStatus{Phase: PodRunning}}
	failed := &Pod{ObjectMeta: ObjectMeta{Name: "b", Namespace: "ns2"}, Spec: PodSpec{RestartPolicy: "Never"}, Status: PodStatus{Phase: PodFailed}}
	warn := &Event{ObjectMeta: ObjectMeta{Name: "e", Namespace: "ns1"}, InvolvedObject: ObjectReference{Kind: "Pod", Name: "a", Namespace: "ns1", UID: "u1"}, Reason: "BackOff", Type: "Warning"}
	cordoned := &Node{ObjectMeta: ObjectMeta{Name: "n1"}, Spec: NodeSpec{Unschedulable: true}}

	tests := []struct {
		res     *Resource
		sel     string
		obj     Object
		want    bool
		wantErr string
	}{
		{res: pods, sel: "", obj: running, want: true},
		{res: pods, sel: "spec.nodeName=n1", obj: running, want: true},
		{res: pods, sel: "spec.nodeName=n1", obj: failed, want: false},
		{res: pods, sel: "spec.nodeName==", obj: failed, want: true}, // unscheduled pods
		{res: pods, sel: "status.phase!=Failed,status.phase!=Succeeded", obj: running, want: true},
		{res: pods, sel: "status.phase!=Failed,status.phase!=Succeeded", obj: failed, want: false},
		{res: pods, sel: "spec.restartPolicy=Never", obj: failed, want: true},
		{res: pods, sel: "metadata.name=a,metadata.namespace=ns1", obj: running, want: true},
		{res: pods, sel: "metadata.namespace!=ns1", obj: running, want: false},
		{res: events, sel: "involvedObject.kind=Pod,involvedObject.name=a,involvedObject.namespace=ns1,involvedObject.uid=u1", obj: warn, want: true},
		{res: events, sel: "reason=BackOff,type=Warning", obj: warn, want: true},
		{res: events, sel: "type=Normal", obj: warn, want: false},
		{res: nodes, sel: "spec.unschedulable=true", obj: cordoned, want: true},
		{res: nodes, sel: "spec.unschedulable=false", obj: cordoned, want: false},
		{res: cms, sel: "metadata.name=x", obj: &ConfigMap{ObjectMeta: ObjectMeta{Name: "x"}}, want: true},
		{res: pods, sel: "spec.hostname=x", wantErr: `field selector "spec.hostname=x": field "spec.hostname" is not supported for pods; supported fields: metadata.name, metadata.namespace, spec.nodeName, spec.restartPolicy, status.phase`},
		{res: cms, sel: "data.x=1", wantErr: `field selector "data.x=1": field "data.x" is not supported for configmaps; supported fields: metadata.name, metadata.namespace`},
		{res: pods, sel: "spec.nodeName", wantErr: `field selector "spec.nodeName": invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'`},
	}
	for _, tt := range tests {
		t.Run(tt.res.Plural+"/"+tt.sel, func(t *testing.T) {
			match, err := ParseFieldSelector(tt.res, tt.sel)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v\nwant    %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := match(tt.obj); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}
