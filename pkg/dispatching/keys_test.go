package dispatching

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseInputKeyStrings checks that a non-string input key is the string
// the original service sent: its YAML 1.2 core-schema value converted the
// way JavaScript converts an object key (behaviour.md 1.1: "1: x" is the key
// "1").
func TestParseInputKeyStrings(t *testing.T) {
	src := validHead + `      - repository: a/b
        workflow: w
        inputs:
          1: a
          0x1F: a
          0o17: a
          1e3: a
          +2: a
          -0: a
          .5: a
          True: a
          .inf: a
          -.Inf: a
          .NaN: a
          12345678901234567890: a
          1e21: a
          1.5e-7: a
          0.000001: a
          !!str 0x10: a
          !!int 0x20: a
          "0o7": a
          1_000: a
          0b101: a
          yes: a
          plain: a
`
	cfg, ds := Parse("dispatching.yml", []byte(src))
	if cfg == nil {
		t.Fatalf("rejected:\n%s", dumpDiags(ds))
	}
	var got []string
	for _, in := range cfg.Outbound[0].Targets[0].Inputs {
		got = append(got, in.Key)
	}
	want := []string{"1", "31", "15", "1000", "2", "0", "0.5", "true", "Infinity", "-Infinity", "NaN",
		"12345678901234567000", "1e+21", "1.5e-7", "0.000001", "0x10", "32", "0o7", "1_000", "0b101", "yes", "plain"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("input keys (-want +got):\n%s", diff)
	}
}

// TestParseKeyDuplicatesByValue checks that keys with the same value are
// duplicates however they are written, as in the original's parser.
func TestParseKeyDuplicatesByValue(t *testing.T) {
	head := validHead + "      - repository: a/b\n        workflow: w\n        inputs:\n"
	tests := []struct {
		name, keys string
		wants      []want
	}{
		{"1 and 01", "          1: a\n          01: b\n", []want{{9, 11, RuleDuplicateKey, `duplicate key "1"`}}},
		{"1 and 1.0", "          1: a\n          1.0: b\n", []want{{9, 11, RuleDuplicateKey, `duplicate key "1"`}}},
		{"0x10 and 16", "          0x10: a\n          16: b\n", []want{{9, 11, RuleDuplicateKey, `duplicate key "16"`}}},
		{"true and True", "          true: a\n          True: b\n", []want{{9, 11, RuleDuplicateKey, `duplicate key "true"`}}},
		{"null key", "          ~: a\n", []want{{8, 11, RuleEmptyValue, `empty input name`}}},
		{"custom tag on a key", "          !env k: a\n", []want{{8, 11, RuleUnsupportedYAML, `unsupported tag !env on a key`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ds := Parse("dispatching.yml", []byte(head+tt.keys))
			if cfg != nil {
				t.Errorf("Parse returned a config for an invalid file")
			}
			checkDiags(t, ds, tt.wants)
		})
	}
}

// TestJSNumberString pins the JavaScript Number-to-string conversion.
func TestJSNumberString(t *testing.T) {
	point1, point2 := 0.1, 0.2 // variables: constant arithmetic would be exact
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{1, "1"}, {-1, "-1"}, {math.Copysign(0, -1), "0"}, {0.5, "0.5"}, {-0.5, "-0.5"},
		{1e20, "100000000000000000000"}, {1e21, "1e+21"}, {1.5e21, "1.5e+21"},
		{123e-20, "1.23e-18"}, {1e-6, "0.000001"}, {1e-7, "1e-7"}, {point1 + point2, "0.30000000000000004"},
		{5e-324, "5e-324"}, {math.MaxFloat64, "1.7976931348623157e+308"}, {123.456, "123.456"},
		{math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"}, {math.NaN(), "NaN"},
	} {
		if got := jsNumberString(tt.f); got != tt.want {
			t.Errorf("jsNumberString(%v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}
