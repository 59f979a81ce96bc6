package abi

import (
	"fmt"

	"github.com/skiff-sh/skiff/sdk/admission"
)

func errCount(what string, got, want int) error {
	return fmt.Errorf("abi: %s: got %d, want %d", what, got, want)
}

// PutAdmissionRequest encodes req.
func (w *Writer) PutAdmissionRequest(req *admission.Request) {
	w.Str(req.Operation)
	w.Str(req.Kind)
	w.Str(req.Namespace)
	w.Str(req.Name)
	w.Str(req.User)
	w.Bytes(req.Object)
	w.Bytes(req.OldObject)
}

// AdmissionRequest decodes what PutAdmissionRequest wrote.
func (r *Reader) AdmissionRequest() *admission.Request {
	return &admission.Request{Operation: r.Str(), Kind: r.Str(), Namespace: r.Str(), Name: r.Str(), User: r.Str(),
		Object: r.Bytes(), OldObject: r.Bytes()}
}

// PutAdmissionResponse encodes resp.
func (w *Writer) PutAdmissionResponse(resp *admission.Response) {
	w.Bool(resp.Allowed)
	w.Str(resp.Reason)
	w.Bytes(resp.Patch)
	w.Strs(resp.Warnings)
}

// AdmissionResponse decodes what PutAdmissionResponse wrote.
func (r *Reader) AdmissionResponse() *admission.Response {
	return &admission.Response{Allowed: r.Bool(), Reason: r.Str(), Patch: r.Bytes(), Warnings: r.Strs()}
}
