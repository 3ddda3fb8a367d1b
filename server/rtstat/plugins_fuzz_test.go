package rtstat

import (
	"strings"
	"testing"
)

// FuzzParseCommandSpec: a --plugin value is an error or a name of the
// allowed characters and a command, both trimmed and not empty.
func FuzzParseCommandSpec(f *testing.F) {
	for _, s := range []string{"temp=cat /sys/class/thermal/thermal_zone0/temp", "=x", "a=", "a b=c", "x==y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseCommandSpec(s)
		if err != nil {
			return
		}
		if spec.Name == "" || spec.Command == "" || strings.TrimSpace(spec.Command) != spec.Command {
			t.Fatalf("%q parsed as %+v", s, spec)
		}
		for _, r := range spec.Name {
			if !(r == '_' || r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				t.Fatalf("%q: name %q", s, spec.Name)
			}
		}
	})
}
