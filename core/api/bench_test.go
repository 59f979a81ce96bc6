package api

import (
	"os"
	"testing"
)

// The API server runs DecodeInto, SetDefaults and Validate on every write.

func BenchmarkDecodeManifest(b *testing.B) {
	data, err := os.ReadFile("testdata/web.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeIntoDeploymentJSON(b *testing.B) {
	data, err := EncodeJSON(validDeployment())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var d Deployment
		if err := DecodeInto(data, &d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDefaultAndValidateDeployment(b *testing.B) {
	for b.Loop() {
		d := validDeployment()
		SetDefaults(d)
		if err := Validate(d); err != nil {
			b.Fatal(err)
		}
	}
}
