// Package admission is the admission.v1 contract: a plugin sees each object
// being created or updated and may reject it or change it.
package admission

import "context"

// Operations an admission request can carry.
const (
	Create = "CREATE"
	Update = "UPDATE"
	Delete = "DELETE"
)

// Request is one object on its way into the store.
type Request struct {
	Operation string `json:"operation"`
	// Kind, Namespace and Name identify the object, e.g. "Pod", "default", "web-0".
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// User is the authenticated caller.
	User string `json:"user,omitempty"`
	// Object is the object as JSON; OldObject the stored one on UPDATE/DELETE.
	Object    []byte `json:"object,omitempty"`
	OldObject []byte `json:"oldObject,omitempty"`
}

// Response is the plugin's verdict.
type Response struct {
	// Allowed false rejects the request with Reason shown to the user.
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason,omitempty"`
	// Patch, when set, is a JSON merge patch (RFC 7386) the host applies to
	// the object before the next plugin and validation see it.
	Patch []byte `json:"patch,omitempty"`
	// Warnings are returned to the client without failing the request.
	Warnings []string `json:"warnings,omitempty"`
}

// Allow is the response that lets a request through unchanged.
func Allow() *Response { return &Response{Allowed: true} }

// Deny rejects a request with a reason the user will read.
func Deny(reason string) *Response { return &Response{Reason: reason} }

// Plugin admits, rejects or mutates objects. Admit may run concurrently.
type Plugin interface {
	Admit(ctx context.Context, req *Request) (*Response, error)
}
