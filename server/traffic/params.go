package traffic

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"edgestat/probe"
)

// A Period is a window of GET /traffic/data and how its rows are bucketed.
type Period struct {
	Name    string
	Raw     bool  // raw reports, no buckets
	Tier    tier  // the rollup read, when not Raw
	Buckets int64 // buckets in the window
}

// Periods by name, as MMT.md lists them.
var periods = map[string]Period{
	"minute": {Name: "minute", Raw: true},
	"hour":   {Name: "hour", Tier: tierMinute, Buckets: 60},
	"day":    {Name: "day", Tier: tierHour, Buckets: 24},
	"week":   {Name: "week", Tier: tierHour, Buckets: 168},
	"month":  {Name: "month", Tier: tierDay, Buckets: 30},
}

// BucketMS is the bucket length in ms, 0 for raw reports.
func (p Period) BucketMS() int64 {
	if p.Raw {
		return 0
	}
	return tierSize[p.Tier]
}

// A Query selects reports for GET /traffic/data.
type Query struct {
	Format  int      // 99, 0, 1, 2, 3, or 100 (edgestat's host reports)
	Probes  []uint32 // nil: every probe
	Sources []string // nil: every source
	Period  Period
	Raw     bool // arrays (true) or objects
}

// A ParamError is a bad query parameter; the API answers it with HTTP 400
// and MMT-Operator's error code 1102.
type ParamError struct {
	Param, Message string
}

func (e *ParamError) Error() string { return fmt.Sprintf("parameter %s: %s", e.Param, e.Message) }

func paramErr(param, format string, args ...any) error {
	return &ParamError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// ParseQuery reads the parameters of GET /traffic/data. Unknown parameters
// are ignored (jQuery adds a cache-buster `_`).
func ParseQuery(v url.Values) (Query, error) {
	q := Query{Format: probe.FormatStats, Period: periods["minute"], Raw: true}
	if s, ok, err := single(v, "format"); err != nil {
		return q, err
	} else if ok {
		f, err := strconv.Atoi(s)
		if err != nil || (f != probe.FormatStats && f != probe.FormatHosts && (f < 0 || f > probe.FormatRTP)) {
			return q, paramErr("format", "%q is not one of 99, 0, 1, 2, 3, 100", s)
		}
		q.Format = f
	}
	if s, ok, err := single(v, "period"); err != nil {
		return q, err
	} else if ok {
		p, found := periods[s]
		if !found {
			return q, paramErr("period", "%q is not one of minute, hour, day, week, month", s)
		}
		q.Period = p
	}
	if s, ok, err := single(v, "raw"); err != nil {
		return q, err
	} else if ok {
		switch s {
		case "true", "1":
			q.Raw = true
		case "false", "0":
			q.Raw = false
		default:
			return q, paramErr("raw", "%q is not true or false", s)
		}
	}
	var err error
	if q.Probes, err = probeList(v); err != nil {
		return q, err
	}
	if q.Sources, err = sourceList(v); err != nil {
		return q, err
	}
	return q, nil
}

// single returns a parameter given at most once.
func single(v url.Values, name string) (string, bool, error) {
	vs := v[name]
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
		return vs[0], true, nil
	}
	return "", false, paramErr(name, "given %d times", len(vs))
}

// listValues gathers a list parameter in all of its forms: name[]=a,
// repeated name=a, and a JSON array name=[a,b].
func listValues(v url.Values, name string) ([]string, []string) {
	return v[name], v[name+"[]"]
}

// maxListLen bounds a filter.
const maxListLen = 1024

func probeList(v url.Values) ([]uint32, error) {
	plain, brackets := listValues(v, "probe")
	if plain == nil && brackets == nil {
		return nil, nil
	}
	out := []uint32{}
	add := func(s string) error {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
		if err != nil {
			return paramErr("probe", "%q is not a probe id (0 to %d)", s, uint32(math.MaxUint32))
		}
		out = append(out, uint32(n))
		return nil
	}
	for _, s := range append(append([]string{}, plain...), brackets...) {
		if strings.HasPrefix(strings.TrimSpace(s), "[") {
			var arr []json.Number
			d := json.NewDecoder(strings.NewReader(s))
			d.UseNumber()
			if err := d.Decode(&arr); err != nil || d.More() {
				return nil, paramErr("probe", "%q is not a JSON array of probe ids", s)
			}
			for _, n := range arr {
				if err := add(n.String()); err != nil {
					return nil, err
				}
			}
		} else if err := add(s); err != nil {
			return nil, err
		}
		if len(out) > maxListLen {
			return nil, paramErr("probe", "more than %d probes", maxListLen)
		}
	}
	return out, nil
}

func sourceList(v url.Values) ([]string, error) {
	plain, brackets := listValues(v, "source")
	if plain == nil && brackets == nil {
		return nil, nil
	}
	out := []string{}
	for _, s := range append(append([]string{}, plain...), brackets...) {
		if strings.HasPrefix(s, "[") {
			var arr []string
			d := json.NewDecoder(strings.NewReader(s))
			if err := d.Decode(&arr); err != nil || d.More() {
				return nil, paramErr("source", "%q is not a JSON array of strings", s)
			}
			out = append(out, arr...)
		} else {
			out = append(out, s)
		}
		if len(out) > maxListLen {
			return nil, paramErr("source", "more than %d sources", maxListLen)
		}
	}
	return out, nil
}

// matches reports whether a source passes the filters.
func (q *Query) matches(sk sourceKey) bool {
	if q.Probes != nil && !contains(q.Probes, sk.probe) {
		return false
	}
	return q.Sources == nil || contains(q.Sources, sk.source)
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
