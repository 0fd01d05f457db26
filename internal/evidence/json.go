package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// decodeJSON decodes data into v, wording a syntax or type error with the
// line it happened on.
func decodeJSON(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return lineErr(lineAt(data, se.Offset), "%s", se.Error())
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return lineErr(lineAt(data, te.Offset), "%s has the wrong type: %s where %s was expected", te.Field, te.Value, te.Type)
	}
	return fmt.Errorf("%w", err)
}

// lineAt is the 1-based line of byte offset off in data.
func lineAt(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}
