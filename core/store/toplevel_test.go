package store

import (
	"encoding/json"
	"maps"
	"testing"
)

func TestScanTopLevelAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{}`,
		` { } `,
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","labels":{"x":"}{]["}},"spec":{"containers":[{"name":"c","args":["\"}",""]}]},"status":{}}`,
		`{"a":1,"b":-2.5e3,"c":true,"d":null,"e":[],"f":[[1],[2,{"g":"h"}]],"i":"\\\"q\\\\"}`,
		"{\n  \"a\" : { \"b\" : [ 1 , 2 ] } ,\n  \"c\" : \"d\"\n}\n",
		`{"dup":1,"dup":2}`,
	} {
		got, ok := scanTopLevel([]byte(in))
		if !ok {
			t.Errorf("%s: not scanned", in)
			continue
		}
		var want topLevel
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Errorf("%s:\n got %q\nwant %q", in, got, want)
		}
	}
}

func TestScanTopLevelLeavesOddInputToEncodingJSON(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"a":1`, `{"a":"x}`, `{"a" 1}`, `{"a":1,}`, `{"\u0061":1}`, `{"a":1} x`, `{"a":}`} {
		if _, ok := scanTopLevel([]byte(in)); ok {
			t.Errorf("%q: scanned; want it left to encoding/json", in)
		}
	}
	if _, err := splitTopLevel([]byte(`{"a":1`), "stored pods at key \"k\""); err == nil {
		t.Error("splitTopLevel accepted truncated JSON")
	}
}
