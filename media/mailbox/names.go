package mailbox

import (
	"time"

	"github.com/switchboard-voip/switchboard/internal/sortid"
)

// maxBoxLen bounds box names; extensions are far shorter.
const maxBoxLen = 32

// newID returns a fresh message id and the time it encodes (see sortid).
func (s *Store) newID() (string, time.Time) { return s.ids.New(s.now()) }

// validID reports whether id is safe as a file name (see sortid.Valid).
func validID(id string) bool { return sortid.Valid(id) }

// validBox reports whether box is an extension: 1 to maxBoxLen digits.
func validBox(box string) bool {
	if len(box) == 0 || len(box) > maxBoxLen {
		return false
	}
	for i := 0; i < len(box); i++ {
		if box[i] < '0' || box[i] > '9' {
			return false
		}
	}
	return true
}
