package traffic

import (
	"net/url"
	"testing"
)

// FuzzParseHubFilter: any query of /traffic/live is an error or a filter
// that selects at least one event and one format, none unknown.
func FuzzParseHubFilter(f *testing.F) {
	for _, s := range []string{"", "events=stats_raw&format=99,0", "format[]=3&format[]=1", `format=[99,"0"]`,
		"events=", "format=[", "format=7", "events=stats,stats_raw&format=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		h, err := parseHubFilter(q)
		if err != nil {
			return
		}
		if h.events == 0 || h.events&^hubEventsAll != 0 || h.formats == 0 || h.formats&^hubFormatsAll != 0 {
			t.Fatalf("%q: filter %+v", raw, h)
		}
	})
}
