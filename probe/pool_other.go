//go:build !linux

package probe

// reserve returns a zeroed slice of n T (see pool_linux.go; elsewhere the
// probe runs only for development and tests, so the heap is good enough).
func reserve[T, O any](owner *O, n int) []T { return make([]T, n) }
