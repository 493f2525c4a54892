// Package protocol is the wire protocol every service and client speaks: the
// envelope, event names, payloads, error codes and their HTTP statuses.
package protocol

import (
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"
)

// Code is one of the closed set of error codes the protocol names.
type Code string

// The error codes of the protocol, REST and WebSocket alike.
const (
	CodeInvalidRequest     Code = "INVALID_REQUEST"
	CodePayloadTooLarge    Code = "PAYLOAD_TOO_LARGE"
	CodeRateLimited        Code = "RATE_LIMIT_EXCEEDED"
	CodeUnauthorized       Code = "UNAUTHORIZED"
	CodeSessionNotFound    Code = "SESSION_NOT_FOUND"
	CodeNotFound           Code = "NOT_FOUND"
	CodeMethodNotAllowed   Code = "METHOD_NOT_ALLOWED"
	CodeInternal           Code = "INTERNAL_SERVER_ERROR"
	CodeServiceUnavailable Code = "SERVICE_UNAVAILABLE"
	CodeOriginNotAllowed   Code = "ORIGIN_NOT_ALLOWED"
	CodeSessionFull        Code = "SESSION_FULL"
	CodeUserNotInSession   Code = "USER_NOT_IN_SESSION"
	CodeInvalidSession     Code = "INVALID_SESSION"
	CodeInvalidPayload     Code = "INVALID_PAYLOAD"
	CodeInvalidLanguage    Code = "INVALID_LANGUAGE"
	CodeDocumentTooLarge   Code = "DOCUMENT_TOO_LARGE"
	CodeTooManyConnections Code = "TOO_MANY_CONNECTIONS"
	CodeForbidden          Code = "FORBIDDEN"
	CodeUserIDTaken        Code = "USER_ID_TAKEN"
	CodeSessionEnded       Code = "SESSION_ENDED"
)

// statuses is the one place where a code becomes an HTTP status.
var statuses = map[Code]int{
	CodeInvalidRequest:     http.StatusBadRequest,
	CodePayloadTooLarge:    http.StatusRequestEntityTooLarge,
	CodeRateLimited:        http.StatusTooManyRequests,
	CodeUnauthorized:       http.StatusUnauthorized,
	CodeSessionNotFound:    http.StatusNotFound,
	CodeNotFound:           http.StatusNotFound,
	CodeMethodNotAllowed:   http.StatusMethodNotAllowed,
	CodeInternal:           http.StatusInternalServerError,
	CodeServiceUnavailable: http.StatusServiceUnavailable,
	CodeOriginNotAllowed:   http.StatusForbidden,
	CodeSessionFull:        http.StatusConflict,
	CodeUserNotInSession:   http.StatusForbidden,
	CodeInvalidSession:     http.StatusBadRequest,
	CodeInvalidPayload:     http.StatusBadRequest,
	CodeInvalidLanguage:    http.StatusBadRequest,
	CodeDocumentTooLarge:   http.StatusRequestEntityTooLarge,
	CodeTooManyConnections: http.StatusTooManyRequests,
	CodeForbidden:          http.StatusForbidden,
	CodeUserIDTaken:        http.StatusConflict,
	CodeSessionEnded:       http.StatusConflict,
}

// HTTPStatus returns the HTTP status for a code; unknown codes are 500.
func HTTPStatus(c Code) int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Known reports whether c is one of the protocol's codes.
func Known(c Code) bool {
	_, ok := statuses[c]
	return ok
}

// Error is an error with a protocol code, a human message and optional details.
type Error struct {
	Code    Code
	Message string
	Details map[string]any
	Err     error // the cause, never shown to clients
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(d map[string]any) *Error {
	c := *e
	c.Details = d
	return &c
}

// Wrap attaches a cause to a coded error.
func Wrap(code Code, msg string, cause error) *Error {
	return &Error{Code: code, Message: msg, Err: cause}
}

// Truncate bounds client text that a message echoes to n bytes and "…",
// cut at a rune boundary so the echo never ends in half a character.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// ErrorCode returns the code of err, INTERNAL_SERVER_ERROR when it has none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) && Known(e.Code) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the client-facing message of err; internal failures
// get a generic message so no detail of the inside leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && Known(e.Code) && e.Code != CodeInternal {
		return e.Message
	}
	return "An internal error occurred"
}

// ErrorBody is the JSON body of every REST error.
type ErrorBody struct {
	Error      Code           `json:"error"`
	Message    string         `json:"message"`
	StatusCode int            `json:"statusCode"`
	Details    map[string]any `json:"details,omitempty"`
}

// BodyOf turns any error into the protocol's REST error body.
func BodyOf(err error) ErrorBody {
	code := ErrorCode(err)
	b := ErrorBody{Error: code, Message: ErrorMessage(err), StatusCode: HTTPStatus(code)}
	var e *Error
	if errors.As(err, &e) && code != CodeInternal {
		b.Details = e.Details
	}
	return b
}

// ErrorPayload is the payload of the WebSocket `error` event.
type ErrorPayload struct {
	Error   Code           `json:"error"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// PayloadOf turns any error into the WebSocket error payload.
func PayloadOf(err error) ErrorPayload {
	b := BodyOf(err)
	return ErrorPayload{Error: b.Error, Message: b.Message, Details: b.Details}
}
