package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
)

// The wire codes of the contract's errors (plus 403, which the clients report for a request that
// NATS refused for the connection's permissions: the service never sends it).
const (
	CodeValidation      = 400
	CodePermission      = 403
	CodeNotFound        = 404
	CodeVersionConflict = 409
	// CodeConditionFailed is a version conflict's code too: the reply's condition detail tells
	// them apart.
	CodeConditionFailed = 409
	CodeErased          = 410
	CodeInternal        = 500
	CodeNotSupported    = 501
	CodeUnavailable     = 503
)

// Sentinels for errors.Is. Every error this package returns for a refusal matches exactly one of
// them; the typed errors (errors.As) carry the details.
var (
	// ErrValidation: the request was refused as malformed (400); see *ValidationError.
	ErrValidation = errors.New("eventstore: invalid request")
	// ErrPermission: NATS refused the request for the connection's permissions (403); see
	// *PermissionError. Never retried.
	ErrPermission = errors.New("eventstore: not permitted")
	// ErrNotFound: the actor has no snapshot (404).
	ErrNotFound = errors.New("eventstore: not found")
	// ErrVersionConflict: the version is not above the actor's latest (409); see
	// *VersionConflictError.
	ErrVersionConflict = errors.New("eventstore: version conflict")
	// ErrConditionFailed: an event matching the write's condition was stored after its After
	// (409); see *ConditionFailedError.
	ErrConditionFailed = errors.New("eventstore: condition failed")
	// ErrErased: the actor was erased (410); see *ErasedError.
	ErrErased = errors.New("eventstore: actor erased")
	// ErrInternal: a bug in the service (500), or a reply this client cannot read.
	ErrInternal = errors.New("eventstore: internal error")
	// ErrNotSupported: the nats-server lacks a feature the request needs (501); see
	// *NotSupportedError.
	ErrNotSupported = errors.New("eventstore: not supported")
	// ErrUnavailable: JetStream was unavailable or too slow (503), or no service answered within
	// the timeout after every attempt. Retrying with the same event id is safe.
	ErrUnavailable = errors.New("eventstore: unavailable")
)

// Code is the wire code of an error returned by this package (400, 403, 404, 409, 410, 500, 501
// or 503), and 0 for any other error, such as the caller's context ending.
func Code(err error) int {
	var c interface{ code() int }
	if errors.As(err, &c) {
		return c.code()
	}
	return 0
}

// FieldError is one schema violation: where (a JSON pointer into the request) and what.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// ValidationError is a 400: the request is not JSON, fails the schema or is too large.
type ValidationError struct {
	Message string
	// Errors are the schema violations, trimmed by the service; may be empty.
	Errors []FieldError
}

func (e *ValidationError) Error() string        { return "eventstore: " + e.Message }
func (e *ValidationError) Is(target error) bool { return target == ErrValidation }
func (e *ValidationError) code() int            { return CodeValidation }

// PermissionError reports a publish or subscribe that NATS refused for the connection's
// permissions (for example a writer calling Erase). The request never reached the service;
// retrying cannot help, so it is never retried.
type PermissionError struct {
	// Operation is "publish" or "subscription".
	Operation string
	// Subject is the subject NATS refused.
	Subject string
	// Err is the NATS error (it matches nats.ErrPermissionViolation).
	Err error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("eventstore: NATS refused the %s to %s: not permitted for this connection's user", e.Operation, e.Subject)
}
func (e *PermissionError) Is(target error) bool { return target == ErrPermission }
func (e *PermissionError) Unwrap() error        { return e.Err }
func (e *PermissionError) code() int            { return CodePermission }

// Conflict is one actor that was behind in a refused transaction.
type Conflict struct {
	ActorID          string `json:"actorId"`
	AttemptedVersion int64  `json:"attemptedVersion"`
	CurrentVersion   int64  `json:"currentVersion"`
}

// VersionConflictError is a 409: the attempted version is not above the actor's current one, or
// (SaveSnapshot) a snapshot is ahead of the actor's latest event. errors.Is(err,
// ErrVersionConflict) holds for it.
type VersionConflictError struct {
	ActorID          string
	AttemptedVersion int64
	CurrentVersion   int64
	// Conflicts lists every actor that was behind, for Transact; nil otherwise.
	Conflicts []Conflict
	// Message is the service's message.
	Message string
}

func (e *VersionConflictError) Error() string {
	if e.Message != "" {
		return "eventstore: " + e.Message
	}
	return fmt.Sprintf("eventstore: version conflict for actor %q: attempted version %d, current version %d",
		e.ActorID, e.AttemptedVersion, e.CurrentVersion)
}
func (e *VersionConflictError) Is(target error) bool { return target == ErrVersionConflict }
func (e *VersionConflictError) code() int            { return CodeVersionConflict }

// ConditionFailedError is a 409 from Append or Transact with a Condition: an event matching the
// condition's query is stored at a position above its After, so nothing was stored. Read again
// (from Position on, or the whole query), decide again and retry with the new head as After.
// errors.Is(err, ErrConditionFailed) holds for it, errors.Is(err, ErrVersionConflict) does not.
type ConditionFailedError struct {
	// Position is the position of the latest event that matches the condition's query.
	Position uint64
	// Message is the service's message.
	Message string
}

func (e *ConditionFailedError) Error() string {
	if e.Message != "" {
		return "eventstore: " + e.Message
	}
	return fmt.Sprintf("eventstore: condition failed: an event matching the query is stored at position %d", e.Position)
}
func (e *ConditionFailedError) Is(target error) bool { return target == ErrConditionFailed }
func (e *ConditionFailedError) code() int            { return CodeConditionFailed }

// ErasedError is a 410: the actor was erased (Erase), so nothing can be written to it again.
type ErasedError struct {
	ActorID string
	// ErasedAt is when the actor was first erased, RFC 3339 as the service wrote it.
	ErasedAt string
	Message  string
}

func (e *ErasedError) Error() string {
	if e.Message != "" {
		return "eventstore: " + e.Message
	}
	return fmt.Sprintf("eventstore: actor %q was erased at %s", e.ActorID, e.ErasedAt)
}
func (e *ErasedError) Is(target error) bool { return target == ErrErased }
func (e *ErasedError) code() int            { return CodeErased }

// NotSupportedError is a 501: Append or Transact on a nats-server without atomic batch publish.
type NotSupportedError struct {
	Message string
	// RequiredServerVersion is the nats-server version the request needs, such as "2.12.0".
	RequiredServerVersion string
}

func (e *NotSupportedError) Error() string        { return "eventstore: " + e.Message }
func (e *NotSupportedError) Is(target error) bool { return target == ErrNotSupported }
func (e *NotSupportedError) code() int            { return CodeNotSupported }

// Error is a refusal without details of its own: 404 (errors.Is ErrNotFound), 500 (ErrInternal),
// 503 (ErrUnavailable), and any code this client does not know (ErrInternal). Also what a
// request returns when every attempt timed out or found no responders (503, wrapping
// nats.ErrTimeout or nats.ErrNoResponders).
type Error struct {
	Code    int
	Message string
	// Err is the NATS error behind a client-side 503, else nil.
	Err error
}

func (e *Error) Error() string { return "eventstore: " + e.Message }
func (e *Error) Unwrap() error { return e.Err }
func (e *Error) Is(target error) bool {
	switch e.Code {
	case CodeNotFound:
		return target == ErrNotFound
	case CodeUnavailable:
		return target == ErrUnavailable
	default:
		return target == ErrInternal
	}
}
func (e *Error) code() int { return e.Code }

// errorBody is the JSON body of every error reply: {"error": {code, message, ...details}}.
type errorBody struct {
	Error struct {
		Code                  int          `json:"code"`
		Message               string       `json:"message"`
		Errors                []FieldError `json:"errors"`
		ActorID               string       `json:"actorId"`
		AttemptedVersion      int64        `json:"attemptedVersion"`
		CurrentVersion        int64        `json:"currentVersion"`
		Conflicts             []Conflict   `json:"conflicts"`
		ErasedAt              string       `json:"erasedAt"`
		RequiredServerVersion string       `json:"requiredServerVersion"`
		Condition             *struct {
			Position uint64 `json:"position"`
		} `json:"condition"`
	} `json:"error"`
}

// errorFromReply rebuilds the service's error from a reply's micro error headers (ADR-32) and
// JSON body; nil when the reply is a success. An error reply whose body cannot be read still
// has its headers.
func errorFromReply(msg *nats.Msg) error {
	header := msg.Header.Get("Nats-Service-Error-Code")
	if header == "" {
		return nil
	}
	code, err := strconv.Atoi(header)
	if err != nil {
		return &Error{Code: CodeInternal, Message: fmt.Sprintf("the service answered error %q", header)}
	}
	var body errorBody
	_ = json.Unmarshal(msg.Data, &body) // details are optional; the headers suffice
	d := body.Error
	message := d.Message
	if message == "" {
		message = msg.Header.Get("Nats-Service-Error")
	}
	if message == "" {
		message = "error " + header
	}
	switch code {
	case CodeValidation:
		return &ValidationError{Message: message, Errors: d.Errors}
	case CodeNotFound, CodeInternal, CodeUnavailable:
		return &Error{Code: code, Message: message}
	case CodeVersionConflict:
		// One code for both 409s (contract v3): the condition detail is what tells them apart.
		if d.Condition != nil {
			return &ConditionFailedError{Position: d.Condition.Position, Message: message}
		}
		return &VersionConflictError{ActorID: d.ActorID, AttemptedVersion: d.AttemptedVersion,
			CurrentVersion: d.CurrentVersion, Conflicts: d.Conflicts, Message: message}
	case CodeErased:
		return &ErasedError{ActorID: d.ActorID, ErasedAt: d.ErasedAt, Message: message}
	case CodeNotSupported:
		return &NotSupportedError{Message: message, RequiredServerVersion: d.RequiredServerVersion}
	default:
		return &Error{Code: CodeInternal, Message: fmt.Sprintf("the service answered error %s: %s", header, message)}
	}
}
