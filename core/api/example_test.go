package api_test

import (
	"fmt"

	"github.com/skiff-sh/skiff/core/api"
)

func ExampleDecode() {
	manifest := []byte(`
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  selector: {app: web}
  ports:
  - port: 80
`)
	objs, err := api.Decode(manifest)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, obj := range objs {
		api.SetDefaults(obj)
		if err := api.Validate(obj); err != nil {
			fmt.Println(err)
			return
		}
	}
	d := objs[0].(*api.Deployment)
	svc := objs[1].(*api.Service)
	fmt.Println(d.Kind, d.Name, "replicas:", *d.Spec.Replicas, "pull:", d.Spec.Template.Spec.Containers[0].ImagePullPolicy)
	fmt.Println(svc.Kind, svc.Name, "targetPort:", svc.Spec.Ports[0].TargetPort.String(), svc.Spec.Ports[0].Protocol)

	_, err = api.Decode([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replica: 3\n"))
	fmt.Println(err)

	d.Spec.Replicas = api.Int32Ptr(-1)
	fmt.Println(api.Validate(d))
	// Output:
	// Deployment web replicas: 1 pull: IfNotPresent
	// Service web targetPort: 80 TCP
	// document 1 (Deployment "web"): unknown field "spec.replica"; did you mean "spec.replicas"?
	// Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0
}
