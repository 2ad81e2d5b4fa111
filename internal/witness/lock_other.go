//go:build !unix

package witness

import (
	"errors"
	"os"
)

// lockDir refuses to run: without a lock, two witnesses on one state
// directory could each cosign one branch of a split view.
func lockDir(dir string) (*os.File, error) {
	return nil, errors.New("the witness needs file locks, which this build supports on unix systems only")
}
