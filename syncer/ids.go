package syncer

import (
	"github.com/google/uuid"
)

// NewID returns a new record id: a UUIDv7, so ids made offline on different tablets never clash
// and sort roughly by creation time.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// ValidID reports whether s is a UUID in its canonical 36-character lowercase form, the only form
// ids are stored and compared in.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}
