package yamlconf

import (
	"strings"
	"testing"
)

func TestValidatorPlacesErrorsAtTheirLines(t *testing.T) {
	var f struct {
		Items []struct {
			Name string `yaml:"name"`
			Wait string `yaml:"wait"`
		} `yaml:"items"`
	}
	file, err := Decode([]byte("items:\n  - name: ok\n    wait: soon\n  - name: \"bad name\"\n"), &f)
	if err != nil {
		t.Fatal(err)
	}
	v := &Validator{File: file, Getenv: func(string) string { return "" }, DurationExample: "10s"}
	v.Duration("$.items[0].wait", "wait", f.Items[0].Wait, 0)
	v.Name("$.items[1].name", f.Items[1].Name)
	v.Expand("$.items[1].missing", "missing", "${NOPE}")
	got := v.Err().Error()
	for _, want := range []string{
		`line 3: wait: "soon" is not a positive duration such as 10s`,
		`line 4: name: "bad name" must be 1-64 letters`,
		"line 4: missing: ${NOPE} is not set",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors %q lack %q", got, want)
		}
	}
}

func TestDecodeRefusesUnknownFields(t *testing.T) {
	var f struct {
		Name string `yaml:"name"`
	}
	if _, err := Decode([]byte("name: a\nnmae: b\n"), &f); err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Errorf("Decode(unknown field) = %v, want an error naming it", err)
	}
}
