package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/skiff-sh/skiff/core/api"
)

// toStatus turns any error into the Status sent to the client. Errors that
// are not already a *api.Status are internal errors: their text is logged
// and sent, since it names what failed.
func toStatus(err error) *api.Status {
	var st *api.Status
	if errors.As(err, &st) {
		if st.Code == 0 {
			st.Code = http.StatusInternalServerError
		}
		if st.Kind == "" {
			st.TypeMeta = api.TypeMeta{APIVersion: "v1", Kind: "Status"}
			st.Status = "Failure"
		}
		return st
	}
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return api.NewStatus(api.ReasonRequestTooLarge, "request body larger than the limit of %d bytes; split the object or shrink its data", maxErr.Limit)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return api.NewStatus(api.ReasonTimeout, "request timed out: %v", err)
	}
	return api.NewStatus(api.ReasonInternalError, "internal error: %v", err)
}

// writeStatus writes err as a Status object with its HTTP code.
func writeStatus(w http.ResponseWriter, r *http.Request, err error) {
	st := toStatus(err)
	if st.Code >= 500 && r.Context().Err() == nil { // not merely a client that went away
		slog.Error("apiserver: request failed", "method", r.Method, "path", r.URL.Path, "err", st.Message)
	}
	writeJSON(w, int(st.Code), st)
}

func badRequest(format string, args ...any) *api.Status {
	return api.NewStatus(api.ReasonBadRequest, format, args...)
}

func methodNotAllowed(r *http.Request, allowed string) *api.Status {
	return api.NewStatus(api.ReasonMethodNotAllowed, "method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allowed)
}

func notFoundPath(r *http.Request) *api.Status {
	return api.NewStatus(api.ReasonNotFound, "the server could not find the requested resource %s", r.URL.Path)
}

// invalid builds a 422 for one field of an object.
func invalid(res *api.Resource, name, field, format string, args ...any) *api.Status {
	msg := fmt.Sprintf(format, args...)
	st := api.NewStatus(api.ReasonInvalid, "%s %q is invalid: %s: %s", res.Kind, name, field, msg)
	st.Details = &api.StatusDetails{Name: name, Group: res.Group, Kind: res.Kind,
		Causes: []api.StatusCause{{Type: "FieldValueInvalid", Field: field, Message: msg}}}
	return st
}

// successStatus is the body of a binding or a delete of an object already gone.
func successStatus(code int, details *api.StatusDetails) *api.Status {
	return &api.Status{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Status"}, Status: "Success", Code: int32(code), Details: details}
}
