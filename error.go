package shipgate

import (
	"errors"
	"fmt"
)

// Error codes form the small vocabulary every layer speaks. The store maps
// driver errors onto them, the HTTP API maps them onto status codes, and the
// client maps status codes back, so a caller can branch on the code no matter
// how far the error travelled.
const (
	EINVALID            = "invalid"
	ENOTFOUND           = "not_found"
	ECONFLICT           = "conflict"
	EUNAUTHORIZED       = "unauthorized"
	EFORBIDDEN          = "forbidden"
	EFAILEDPRECONDITION = "failed_precondition"
	ETOOLARGE           = "too_large"
	EINTERNAL           = "internal"
)

// Error is an application error: a code from the vocabulary above and a
// message written for the person who will read it.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of the first *Error in err's chain.
// Other errors are internal details and are reported generically so that
// nothing about the server's internals leaks to callers.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
