package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/cloudmarket/termination-orders/order"
)

// decodeStrict decodes a JSON object into the struct dst points to, field by
// field, so that every unknown field and every value of the wrong JSON type
// is reported by name, not just the first; so is what order.CheckJSON finds
// (a key sent twice, text that is not UTF-8), which plain decoding hides.
func decodeStrict(body []byte, dst any) []*order.FieldError {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		rule := "must be a JSON object"
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			rule = fmt.Sprintf("must be a JSON object (invalid JSON at byte %d: %v)", syntax.Offset, syntax)
		}
		return []*order.FieldError{{Field: "(body)", Rule: rule}}
	}
	errs := order.CheckJSON(body)
	v := reflect.ValueOf(dst).Elem()
	fields := map[string]int{}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.IsExported() && name != "" && name != "-" {
			fields[name] = i
		}
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		i, ok := fields[k]
		if !ok {
			errs = append(errs, &order.FieldError{Field: k, Rule: "is not a field of this request; the fields are " + strings.Join(slices.Sorted(maps.Keys(fields)), ", ")})
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw[k]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v.Field(i).Addr().Interface()); err != nil {
			errs = append(errs, &order.FieldError{Field: k, Rule: typeRule(err)})
		}
	}
	return errs
}

// validateOrderJSON checks an order's JSON by the order's own decoding,
// which knows what field-by-field decoding cannot: a reopenWindowSeconds
// sent as 0 is set, and out of its bounds, not absent.
func validateOrderJSON(body []byte, now time.Time) error {
	var o order.Order
	if err := json.Unmarshal(body, &o); err != nil {
		return nil // decodeStrict reported it
	}
	return o.Validate(now)
}

// notAnObject reports that the body was no JSON object: then its fields'
// rules say nothing more.
func notAnObject(fields []*order.FieldError) bool {
	return len(fields) == 1 && fields[0].Field == "(body)"
}

func typeRule(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		kind := "object"
		switch typeErr.Type.Kind() {
		case reflect.String:
			kind = "string"
		case reflect.Int, reflect.Int64, reflect.Int32:
			kind = "integer"
		case reflect.Slice:
			kind = "array"
		}
		rule := "must be a JSON " + kind + ", got " + typeErr.Value
		if typeErr.Field != "" {
			rule += " (at " + typeErr.Field + ")"
		}
		return rule
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// merge adds the broken rules of a validation error to fields, leaving out
// the fields already reported (a value of the wrong type is also "missing").
func merge(fields []*order.FieldError, err error) []*order.FieldError {
	var v *order.ValidationError
	if !errors.As(err, &v) {
		return fields
	}
	reported := map[string]bool{}
	for _, f := range fields {
		reported[f.Field] = true
	}
	for _, f := range v.Fields {
		root, _, _ := strings.Cut(f.Field, "[")
		root, _, _ = strings.Cut(root, ".")
		if !reported[f.Field] && !reported[root] {
			fields = append(fields, f)
		}
	}
	return fields
}

// checkKey checks an Idempotency-Key: it becomes a request ID, so it follows
// the same rule.
func checkKey(key string) *Problem {
	if key == "" {
		return nil
	}
	if err := order.CheckOrderID(key); err != nil {
		return invalid("invalid Idempotency-Key header", &order.FieldError{Field: "Idempotency-Key", Rule: "must be 1 to 100 letters, digits, '-', '_' or '.' (a UUID fits)"})
	}
	return nil
}
