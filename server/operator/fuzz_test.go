package operator

import (
	"testing"
)

// FuzzParseRequest: any POST /post/ body is a FieldError naming a field or
// a request within the limits.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"count": 100000, "plain_stream": false}`, `{"probe": 1, "plain_stream": true, "duration": 10}`,
		`{"count": -1}`, `{"count": 1e9}`, `{"count": "5"}`, `{}`, `[]`, `null`, ``, `{"count":1,"x":2}`,
	} {
		f.Add([]byte(s))
	}
	const maxCount = 10_000_000
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body, maxCount)
		if err != nil {
			fe, ok := err.(*FieldError)
			if !ok || err.Error() == "" {
				t.Fatalf("error %T %v: want a FieldError", err, err)
			}
			_ = fe
			return
		}
		if req.Count < 0 || req.Count > maxCount || req.Duration < 0 {
			t.Fatalf("request %+v outside the limits", req)
		}
		if req.Probe == nil && req.Count == 0 {
			t.Fatalf("request %+v: no probe and no count", req)
		}
	})
}
