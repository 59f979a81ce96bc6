package app

import (
	"bytes"
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/core/client"
)

func TestPluginsPrintsTheHostStatus(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != pluginsPath || r.Header.Get("Authorization") != "Bearer secret" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`))
			return
		}
		w.Write([]byte(`{"apiVersion":"skiff.io/v1","kind":"PluginStatusList","items":[
			{"name":"NodeResourcesFit","point":"scheduler.filter","loader":"builtin","state":"loaded","calls":1200,"errors":0,"p99":4200},
			{"name":"zone-pref","point":"scheduler.score","loader":"wasm","path":"/p/zone.wasm","state":"failing","calls":7,"errors":2,"p99":1534000,"lastError":"timed out\nafter 1s"}]}`))
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	path := filepath.Join(t.TempDir(), "config")
	if err := client.WriteConfig(path, &client.Config{Server: srv.URL, CertificateAuthorityData: string(ca), Token: "secret"}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), append(args, "--config", path), Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		return out.String(), errOut.String(), code
	}

	out, errOut, code := run("plugins")
	want := `NAME               POINT              LOADER    STATUS    CALLS   ERRORS   P99
NodeResourcesFit   scheduler.filter   builtin   loaded    1200    0        4µs
zone-pref          scheduler.score    wasm      failing   7       2        1.53ms
`
	if code != 0 || out != want {
		t.Fatalf("exit %d, stderr %q, output:\n%s\nwant:\n%s", code, errOut, out, want)
	}
	out, _, _ = run("plugins", "-w")
	if !strings.Contains(out, "/p/zone.wasm   timed out; after 1s") {
		t.Fatalf("wide output lacks path and last error:\n%s", out)
	}
	_, errOut, code = run("plugins", "--token", "wrong")
	if code != 1 || !strings.Contains(errOut, "Error from server (Unauthorized)") {
		t.Fatalf("bad token: exit %d, stderr %q", code, errOut)
	}
}
