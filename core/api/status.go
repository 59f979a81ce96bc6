package api

import (
	"errors"
	"fmt"
)

// Status is the error object of the API, shaped as Kubernetes' metav1.Status.
// It is also a Go error, so the store, API server and client pass one value.
type Status struct {
	TypeMeta `json:",inline"`
	Status   string         `json:"status,omitempty"` // Success or Failure
	Message  string         `json:"message,omitempty"`
	Reason   StatusReason   `json:"reason,omitempty"`
	Details  *StatusDetails `json:"details,omitempty"`
	Code     int32          `json:"code,omitempty"`
}

// StatusReason is a machine-readable reason, as in Kubernetes.
type StatusReason string

const (
	ReasonNotFound           StatusReason = "NotFound"
	ReasonAlreadyExists      StatusReason = "AlreadyExists"
	ReasonConflict           StatusReason = "Conflict"
	ReasonInvalid            StatusReason = "Invalid"
	ReasonBadRequest         StatusReason = "BadRequest"
	ReasonUnauthorized       StatusReason = "Unauthorized"
	ReasonForbidden          StatusReason = "Forbidden"
	ReasonMethodNotAllowed   StatusReason = "MethodNotAllowed"
	ReasonGone               StatusReason = "Expired" // watch or continue token too old: re-list
	ReasonRequestTooLarge    StatusReason = "RequestEntityTooLarge"
	ReasonUnsupportedMedia   StatusReason = "UnsupportedMediaType"
	ReasonTimeout            StatusReason = "Timeout"
	ReasonServiceUnavailable StatusReason = "ServiceUnavailable"
	ReasonInternalError      StatusReason = "InternalError"
)

// StatusDetails names the object an error is about and, for Invalid, the fields.
type StatusDetails struct {
	Name   string        `json:"name,omitempty"`
	Group  string        `json:"group,omitempty"`
	Kind   string        `json:"kind,omitempty"`
	Causes []StatusCause `json:"causes,omitempty"`
}

// StatusCause is one field error of an Invalid status.
type StatusCause struct {
	Type    string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Field   string `json:"field,omitempty"`
}

func (s *Status) Error() string { return s.Message }

var reasonCodes = map[StatusReason]int32{
	ReasonNotFound: 404, ReasonAlreadyExists: 409, ReasonConflict: 409, ReasonInvalid: 422,
	ReasonBadRequest: 400, ReasonUnauthorized: 401, ReasonForbidden: 403, ReasonMethodNotAllowed: 405,
	ReasonGone: 410, ReasonRequestTooLarge: 413, ReasonUnsupportedMedia: 415, ReasonTimeout: 504,
	ReasonServiceUnavailable: 503, ReasonInternalError: 500,
}

// NewStatus builds a failure Status with the HTTP code that goes with reason.
func NewStatus(reason StatusReason, format string, args ...any) *Status {
	return &Status{
		TypeMeta: TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   "Failure",
		Reason:   reason,
		Code:     reasonCodes[reason],
		Message:  fmt.Sprintf(format, args...),
	}
}

// NotFound reports a missing object: `deployments.apps "web" not found`.
func NotFound(r *Resource, name string) *Status {
	s := NewStatus(ReasonNotFound, "%s %q not found", r.GroupResource(), name)
	s.Details = &StatusDetails{Name: name, Group: r.Group, Kind: r.Plural}
	return s
}

// AlreadyExists reports a create of a name that is taken.
func AlreadyExists(r *Resource, name string) *Status {
	s := NewStatus(ReasonAlreadyExists, "%s %q already exists", r.GroupResource(), name)
	s.Details = &StatusDetails{Name: name, Group: r.Group, Kind: r.Plural}
	return s
}

// Conflict reports a write based on a stale resourceVersion.
func Conflict(r *Resource, name string) *Status {
	s := NewStatus(ReasonConflict, "Operation cannot be fulfilled on %s %q: the object has been modified; please apply your changes to the latest version and try again", r.GroupResource(), name)
	s.Details = &StatusDetails{Name: name, Group: r.Group, Kind: r.Plural}
	return s
}

// ReasonOf returns the reason of a *Status error, or "" for other errors.
func ReasonOf(err error) StatusReason {
	var s *Status
	if asStatus(err, &s) {
		return s.Reason
	}
	return ""
}

// IsNotFound, IsConflict, IsAlreadyExists and IsGone classify errors from any layer.
func IsNotFound(err error) bool      { return ReasonOf(err) == ReasonNotFound }
func IsConflict(err error) bool      { return ReasonOf(err) == ReasonConflict }
func IsAlreadyExists(err error) bool { return ReasonOf(err) == ReasonAlreadyExists }
func IsGone(err error) bool          { return ReasonOf(err) == ReasonGone }
func IsInvalid(err error) bool       { return ReasonOf(err) == ReasonInvalid }

func asStatus(err error, target **Status) bool { return errors.As(err, target) }
