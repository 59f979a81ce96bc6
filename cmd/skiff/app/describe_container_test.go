package app

import (
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
)

func TestDescribeContainerDetails(t *testing.T) {
	objs, err := api.Decode([]byte(`apiVersion: v1
kind: Pod
metadata: {name: web, namespace: demo}
spec:
  containers:
  - name: web
    image: skiff.local/example/web:1
    resources:
      requests: {cpu: 250m, memory: 64Mi}
      limits: {memory: 128Mi}
    livenessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 5}
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
    envFrom:
    - configMapRef: {name: settings}
    - prefix: DB_
      secretRef: {name: db, optional: true}
    env:
    - {name: MODE, value: prod}
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: db, key: password}}
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: cfg, mountPath: /etc/web, readOnly: true}
  volumes:
  - {name: data, emptyDir: {}}
  - {name: cfg, configMap: {name: settings}}
`))
	if err != nil {
		t.Fatal(err)
	}
	pod := objs[0].(*api.Pod)
	var out strings.Builder
	w := &sectionWriter{out: &out}
	containerDetails(w, &pod.Spec.Containers[0])
	w.flush()
	want := `    Limits:
      memory:    128Mi
    Requests:
      cpu:       250m
      memory:    64Mi
    Liveness:                    http-get http://:8080/healthz delay=0s timeout=1s period=5s #success=1 #failure=3
    Readiness:                   tcp-socket :8080 delay=0s timeout=1s period=1s #success=1 #failure=3
    Environment Variables from:
      settings  ConfigMap  Optional: false
      db  Secret with prefix 'DB_'  Optional: true
    Environment:
      MODE:      prod
      NODE:       (v1:spec.nodeName)
      PASSWORD:  <set to the key 'password' in secret 'db'>  Optional: false
    Mounts:
      /data from data (rw)
      /etc/web from cfg (ro)
`
	if out.String() != want {
		t.Errorf("container details:\n%s\nwant:\n%s", out.String(), want)
	}
}
