package prolifictest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"

	"github.com/prolific-receiver/receiver/internal/verify"
)

// Field is one key and value of a JSON object whose key order matters, as in
// a Python dict.
type Field struct {
	Key   string
	Value any
}

// F returns the Field key: value.
func F(key string, value any) Field { return Field{Key: key, Value: value} }

// Object is a JSON object that keeps its keys in the given order. The empty
// Object encodes as {}.
type Object []Field

// EncodePython serialises v the way Python's json.dumps does with default
// arguments: ", " between items, ": " after keys, every character outside
// printable ASCII escaped as a lowercase \uXXXX (surrogate pairs above
// U+FFFF), and "/", "<", ">" and "&" left alone. Objects keep their order when
// given as Object or []Field; Go maps are written with sorted keys.
// Supported values: nil, bool, strings, integers, floats, Object, []Field,
// map[string]V, slices and arrays.
func EncodePython(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := encodePy(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encodePy(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
		return nil
	case Object:
		return encodePyFields(b, x)
	case []Field:
		return encodePyFields(b, x)
	case string:
		writePyString(b, x)
		return nil
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
		return nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(rv.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		b.WriteString(strconv.FormatUint(rv.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		return writePyFloat(b, rv.Float())
	case reflect.String:
		writePyString(b, rv.String())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			b.WriteString("null")
			return nil
		}
		b.WriteByte('[')
		for i := range rv.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := encodePy(b, rv.Index(i).Interface()); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("encode python json: map key type %s is not a string", rv.Type().Key())
		}
		keys := make([]string, 0, rv.Len())
		for _, k := range rv.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		fields := make([]Field, 0, len(keys))
		for _, k := range keys {
			fields = append(fields, Field{Key: k, Value: rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key())).Interface()})
		}
		return encodePyFields(b, fields)
	default:
		return fmt.Errorf("encode python json: unsupported type %T", v)
	}
	return nil
}

func encodePyFields(b *bytes.Buffer, fields []Field) error {
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteString(", ")
		}
		writePyString(b, f.Key)
		b.WriteString(": ")
		if err := encodePy(b, f.Value); err != nil {
			return fmt.Errorf("field %q: %w", f.Key, err)
		}
	}
	b.WriteByte('}')
	return nil
}

// writePyFloat writes f as Python's float repr does for the common cases:
// shortest round-trip digits, ".0" on integral values.
func writePyFloat(b *bytes.Buffer, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("encode python json: %v is not valid JSON", f)
	}
	var s string
	if abs := math.Abs(f); abs != 0 && (abs < 1e-4 || abs >= 1e16) {
		s = strconv.FormatFloat(f, 'e', -1, 64)
	} else {
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	if !bytes.ContainsAny([]byte(s), ".e") {
		s += ".0"
	}
	b.WriteString(s)
	return nil
}

// writePyString writes s as json.dumps does (ASCII only, \uXXXX escapes,
// surrogate pairs above U+FFFF), reusing the receiver's own re-serialiser.
func writePyString(b *bytes.Buffer, s string) {
	lit, _ := json.Marshal(s) // a string always marshals
	py, err := verify.PythonDumps(lit)
	if err != nil {
		panic("prolifictest: re-serialising a JSON string: " + err.Error()) // unreachable: lit is valid JSON
	}
	b.Write(py)
}
