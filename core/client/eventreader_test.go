package client

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
)

// readEvents runs a watcher's receive loop over a canned stream.
func readEvents(t *testing.T, stream string) ([]Event, error) {
	t.Helper()
	res, _ := api.ResourceForKind("ConfigMap")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &Watcher{events: make(chan Event), cancel: cancel, body: io.NopCloser(nil)}
	go w.receive(ctx, res, io.NopCloser(strings.NewReader(stream)))
	var out []Event
	for ev := range w.events {
		out = append(out, ev)
	}
	return out, w.Err()
}

func TestWatchStreamLayouts(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // longer than the reader's buffer
	for name, tc := range map[string]struct {
		stream string
		want   []string // type/name/data[k] of each event
	}{
		"one per line": {
			`{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"},"data":{"k":"}\"{"}}}` + "\n" +
				`{"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"2"}}}` + "\n\n" +
				`{"type":"DELETED","object":{"metadata":{"name":"b"}}}`, // no final newline
			[]string{`ADDED/a/}"{`, "BOOKMARK//", "DELETED/b/"},
		},
		"a line longer than the buffer": {
			`{"type":"MODIFIED","object":{"metadata":{"name":"big"},"data":{"k":"` + long + `"}}}` + "\n",
			[]string{"MODIFIED/big/" + long},
		},
		"fields in another order and pretty-printed": {
			"{\n  \"object\": {\"metadata\": {\"name\": \"a\"}},\n  \"type\": \"ADDED\"\n}\n" +
				`{"type":"MODIFIED","object":{"metadata":{"name":"a"},"data":{"k":"v"}}}` + "\n",
			[]string{"ADDED/a/", "MODIFIED/a/v"},
		},
		"two events on one line": {
			`{"type":"ADDED","object":{"metadata":{"name":"a"}}}{"type":"ADDED","object":{"metadata":{"name":"b"}}}` + "\n",
			[]string{"ADDED/a/", "ADDED/b/"},
		},
		"a field after the object": {
			`{"type":"ADDED","object":{"metadata":{"name":"a"}},"extra":{"x":1}}` + "\n",
			[]string{"ADDED/a/"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			events, err := readEvents(t, tc.stream)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range events {
				cm := ev.Object.(*api.ConfigMap)
				got = append(got, string(ev.Type)+"/"+cm.Name+"/"+cm.Data["k"])
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("events %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWatchStreamErrors(t *testing.T) {
	events, err := readEvents(t, `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version","reason":"Expired","code":410}}`+"\n")
	if err != nil || len(events) != 1 || events[0].Type != Error || events[0].Status.Code != 410 || events[0].Status.Message != "too old resource version" {
		t.Fatalf("error event: %+v, %v", events, err)
	}
	_, err = readEvents(t, `{"type":"ADDED","object":{"metadata":{"name":`+"\n")
	if err == nil || !strings.Contains(err.Error(), "watch configmaps") {
		t.Fatalf("a cut-off event: err %v, want a watch error naming the resource", err)
	}
	_, err = readEvents(t, `{"type":"ADDED","object":{"metadata":{"name":"a"},"data":{"k":1}}}`+"\n")
	if err == nil || !strings.Contains(err.Error(), "decode ADDED event") {
		t.Fatalf("an object of the wrong shape: err %v, want a decode error", err)
	}
}
