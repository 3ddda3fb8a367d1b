package rtstat

import (
	"context"
	"time"
)

// A Plugin contributes one key of a Push message. The hub calls Collect once
// per tick of an interval group, whatever the number of clients in the group.
type Plugin interface {
	// Name is the key of the plugin's value in the Push JSON object.
	Name() string
	// Collect appends the plugin's JSON value for this tick to dst.
	// Plugins that report rates keep the previous counters themselves, so a
	// plugin instance belongs to exactly one interval group and is never
	// called concurrently.
	Collect(ctx context.Context, dst []byte, now time.Time) ([]byte, error)
}

// A Factory makes a fresh set of plugins for one interval group.
type Factory func() []Plugin
