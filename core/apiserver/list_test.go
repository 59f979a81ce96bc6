package apiserver

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
)

func TestListSelectorsAndPagination(t *testing.T) {
	ts := newTestServer(t)
	podPath := "/api/v1/namespaces/default/pods"
	ts.must(201, "POST", "/api/v1/namespaces", &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "other"}})
	ts.must(201, "POST", podPath, pod("web-1", "n1", map[string]string{"app": "web", "tier": "front"}))
	ts.must(201, "POST", podPath, pod("web-2", "n2", map[string]string{"app": "web"}))
	ts.must(201, "POST", podPath, pod("db-1", "n1", map[string]string{"app": "db"}))
	ts.must(201, "POST", "/api/v1/namespaces/other/pods", pod("web-3", "n2", map[string]string{"app": "web"}))
	running := decode[api.Pod](t, ts.must(200, "GET", podPath+"/db-1", nil))
	running.Status.Phase = "Running"
	ts.must(200, "PUT", podPath+"/db-1/status", running)

	for _, tc := range []struct{ path, want string }{
		{podPath, "db-1,web-1,web-2"},
		{"/api/v1/pods", "db-1,web-1,web-2,web-3"},
		{podPath + "?labelSelector=" + url.QueryEscape("app=web"), "web-1,web-2"},
		{podPath + "?labelSelector=" + url.QueryEscape("app in (web,db),tier!=front"), "db-1,web-2"},
		{"/api/v1/pods?fieldSelector=" + url.QueryEscape("spec.nodeName=n2"), "web-2,web-3"},
		{podPath + "?fieldSelector=" + url.QueryEscape("metadata.name=web-1"), "web-1"},
		{podPath + "?fieldSelector=" + url.QueryEscape("status.phase=Running"), "db-1"},
		{podPath + "?fieldSelector=" + url.QueryEscape("status.phase!=Running") + "&labelSelector=app%3Dweb", "web-1,web-2"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			names, _ := ts.listNames(tc.path)
			if got := joinNames(names); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}

	code, body := ts.do("GET", podPath+"?labelSelector="+url.QueryEscape("app in (web"), "", nil)
	expectStatus(t, code, body, 400, api.ReasonBadRequest)
	code, body = ts.do("GET", podPath+"?fieldSelector="+url.QueryEscape("spec.unknown=x"), "", nil)
	expectStatus(t, code, body, 400, api.ReasonBadRequest)
	code, body = ts.do("GET", podPath+"?limit=-1", "", nil)
	expectStatus(t, code, body, 400, api.ReasonBadRequest)

	// Pages of 2 cover everything once, in order, with a continue token.
	for i := range 5 {
		ts.must(201, "POST", cmPath, configMap(fmt.Sprintf("cm-%d", i), nil, nil))
	}
	var all []string
	next := ""
	for page := 0; ; page++ {
		names, cont := ts.listNames(cmPath + "?limit=2&continue=" + url.QueryEscape(next))
		if len(names) > 2 {
			t.Fatalf("page %d has %d items", page, len(names))
		}
		all = append(all, names...)
		if cont == "" {
			break
		}
		next = cont
	}
	if got := joinNames(all); got != "cm-0,cm-1,cm-2,cm-3,cm-4" {
		t.Fatalf("paged list: %s", got)
	}
	code, body = ts.do("GET", cmPath+"?limit=2&continue=garbage", "", nil)
	if code != 400 && code != 410 {
		t.Fatalf("bad continue token: %d %s", code, body)
	}
}
