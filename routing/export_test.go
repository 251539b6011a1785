package routing

import "context"

// ReadCallView reads the calls' view of the store anew, as the first call
// after a change does.
func ReadCallView(ctx context.Context, s *Service) (lines int, err error) {
	err = s.view(ctx, func(tx Tx) error {
		v, err := readCallView(tx, 0)
		if err == nil {
			lines = len(v.lines)
		}
		return err
	})
	return lines, err
}

// ViewReads returns how many times the calls' view was read whole.
func ViewReads(s *Service) uint64 { return s.viewReads.Load() }
