package apiserver

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/skiff-sh/skiff/core/api"
)

// Operation is what a request does to an object.
type Operation string

const (
	OpCreate Operation = "CREATE"
	OpUpdate Operation = "UPDATE"
	OpDelete Operation = "DELETE"
)

// AdmissionRequest is what an admission plugin sees. Object is the incoming
// object (nil for DELETE) and OldObject the stored one (nil for CREATE).
// Both are private copies: a mutating admitter may change Object in place
// and return it.
type AdmissionRequest struct {
	Operation   Operation
	User        UserInfo
	Resource    *api.Resource
	Subresource string // "", "status", "scale" or "binding"
	Namespace   string
	Name        string
	Object      api.Object
	OldObject   api.Object
}

// Admitter accepts, mutates or rejects a write before it is defaulted,
// validated and stored. It returns the object to continue with (nil keeps the
// incoming one) or an error: a *api.Status is sent as is, any other error
// becomes 403 Forbidden naming the admitter.
type Admitter interface {
	Admit(ctx context.Context, req AdmissionRequest) (api.Object, error)
}

// ValidatingAdmitter is implemented by admitters that only accept or reject.
// They run after every mutating admitter, on the final object, and what they
// return is ignored.
type ValidatingAdmitter interface {
	Admitter
	ValidatingOnly() bool
}

// NamedAdmitter gives an admitter a name for error messages and metrics.
type NamedAdmitter interface {
	Name() string
}

// AdmissionChain runs mutating admitters in order, then validating ones. Its
// set can be replaced at run time (plugin configuration reloads) without
// disturbing requests in flight.
type AdmissionChain struct {
	stages atomic.Pointer[admissionStages]
}

type admissionStages struct {
	mutating, validating []Admitter
}

// NewAdmissionChain builds a chain from admitters in their given order.
func NewAdmissionChain(admitters ...Admitter) *AdmissionChain {
	c := &AdmissionChain{}
	c.Set(admitters)
	return c
}

// Set replaces the chain's admitters.
func (c *AdmissionChain) Set(admitters []Admitter) {
	st := &admissionStages{}
	for _, a := range admitters {
		if v, ok := a.(ValidatingAdmitter); ok && v.ValidatingOnly() {
			st.validating = append(st.validating, a)
		} else {
			st.mutating = append(st.mutating, a)
		}
	}
	c.stages.Store(st)
}

// Admit runs the chain and returns the object to store.
func (c *AdmissionChain) Admit(ctx context.Context, req AdmissionRequest) (api.Object, error) {
	st := c.stages.Load()
	for _, a := range st.mutating {
		out, err := a.Admit(ctx, req)
		if err != nil {
			return nil, admissionError(a, req, err)
		}
		if out != nil {
			if out.GetTypeMeta().Kind != req.Resource.Kind && req.Subresource == "" {
				return nil, api.NewStatus(api.ReasonInternalError, "admission plugin %s returned a %s for a %s", admitterName(a), out.GetTypeMeta().Kind, req.Resource.Kind)
			}
			req.Object = out
		}
	}
	for _, a := range st.validating {
		if _, err := a.Admit(ctx, req); err != nil {
			return nil, admissionError(a, req, err)
		}
	}
	return req.Object, nil
}

func admissionError(a Admitter, req AdmissionRequest, err error) error {
	var st *api.Status
	if errors.As(err, &st) {
		return st
	}
	return api.NewStatus(api.ReasonForbidden, "admission plugin %s denied %s of %s %q: %v",
		admitterName(a), req.Operation, req.Resource.GroupResource(), req.Name, err)
}

func admitterName(a Admitter) string {
	if n, ok := a.(NamedAdmitter); ok {
		return fmt.Sprintf("%q", n.Name())
	}
	return fmt.Sprintf("%T", a)
}
