package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The fast path of DecodeInto must give what the strict path gives: the
// same object, or (by leaving the body to it) the same error.
func TestDecodeIntoFastPathAgreesWithStrictPath(t *testing.T) {
	dep, err := EncodeJSON(validDeployment())
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"deployment":              string(dep),
		"pod with quantities":     `{"metadata":{"name":"p","labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i","resources":{"requests":{"cpu":"500m","memory":128974848},"limits":{"cpu":1}}}]}}`,
		"null fields":             `{"metadata":{"name":"p","labels":null},"spec":{"containers":null}}`,
		"whitespace":              " {\n \"metadata\" : { \"name\" : \"p\" } ,\n \"data\" : { \"k\" : \"v\" } }\n",
		"escaped values":          `{"metadata":{"name":"p","annotations":{"a\"b":"c\\d\u00e9"}}}`,
		"name in another case":    `{"metadata":{"Name":"p"}}`,
		"unknown field":           `{"metadata":{"name":"p"},"spek":{}}`,
		"quantity with a space":   `{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":" 1"}}}]}}`,
		"bad quantity":            `{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"lots"}}}]}}`,
		"float for an integer":    `{"spec":{"activeDeadlineSeconds":80.0}}`,
		"integer out of range":    `{"spec":{"containers":[{"name":"c","ports":[{"containerPort":99999999999}]}]}}`,
		"string for a number":     `{"spec":{"activeDeadlineSeconds":"80"}}`,
		"another kind":            `{"kind":"Service","metadata":{"name":"p"}}`,
		"another apiVersion":      `{"apiVersion":"apps/v1","kind":"Pod","metadata":{"name":"p"}}`,
		"two objects":             `{"metadata":{"name":"a"}}{"metadata":{"name":"b"}}`,
		"truncated":               `{"metadata":{"name":"p"}`,
		"bad time":                `{"metadata":{"name":"p","creationTimestamp":"yesterday"}}`,
		"escaped key":             `{"metadata":{"n\u0061me":"p"}}`,
		"int or string":           `{"spec":{"containers":[{"name":"c","livenessProbe":{"httpGet":{"port":"http"}}}]}}`,
		"int or string, fraction": `{"spec":{"containers":[{"name":"c","livenessProbe":{"httpGet":{"port":1.5}}}]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			// As the API server makes them: apiVersion and kind set.
			res, _ := ResourceForKind("Pod")
			fast, strict := res.NewObject(), res.NewObject()
			if name == "deployment" {
				res, _ := ResourceForKind("Deployment")
				fastD, strictD := res.NewObject(), res.NewObject()
				compareDecodes(t, body, fastD, strictD)
				return
			}
			compareDecodes(t, body, fast, strict)
		})
	}
}

func compareDecodes(t *testing.T, body string, fast, strict Object) {
	t.Helper()
	errFast := DecodeInto([]byte(body), fast)
	errStrict := decodeIntoStrict([]byte(body), strict)
	if (errFast == nil) != (errStrict == nil) || (errFast != nil && errFast.Error() != errStrict.Error()) {
		t.Fatalf("errors differ:\nDecodeInto:       %v\ndecodeIntoStrict: %v", errFast, errStrict)
	}
	if errFast == nil && !reflect.DeepEqual(fast, strict) {
		f, _ := json.Marshal(fast)
		s, _ := json.Marshal(strict)
		t.Fatalf("objects differ:\nDecodeInto:       %s\ndecodeIntoStrict: %s", f, s)
	}
}

func TestDecodeIntoMergesIntoAFilledObjectAsBefore(t *testing.T) {
	fast, strict := &ConfigMap{Data: map[string]string{"kept": "1"}}, &ConfigMap{Data: map[string]string{"kept": "1"}}
	compareDecodes(t, `{"metadata":{"name":"c"},"data":{"new":"2"}}`, fast, strict)
	if fast.Data["kept"] != "1" || fast.Data["new"] != "2" {
		t.Fatalf("data %v", fast.Data)
	}
}

func TestDecodeFastTakesCleanBodiesOnly(t *testing.T) {
	for body, want := range map[string]bool{
		`{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}`: true,
		`{"metadata":{"Name":"p"}}`:                  false,
		`{"metadata":{"name":"p"},"extra":1}`:        false,
		`{"spec":{"activeDeadlineSeconds":"80"}}`:    false,
		`{"kind":"Service","metadata":{"name":"p"}}`: false,
	} {
		pod, _ := ResourceForKind("Pod")
		if got := decodeFast([]byte(body), pod.NewObject(), "v1", "Pod"); got != want {
			t.Errorf("decodeFast(%s) = %v, want %v", body, got, want)
		}
	}
}
