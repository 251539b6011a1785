package routing

import (
	"context"
	"slices"
	"time"
)

// Report page sizes.
const (
	DefaultReportLimit = 50
	MaxReportLimit     = 1000
	maxSearchLen       = 100
)

// ValidateReportFilter checks f and fills in defaults: a limit of 0 becomes
// DefaultReportLimit. Errors: EINVALID naming the field ("to" before
// "from", a negative or too large limit, a negative offset, an unknown
// action or status, a search that is too long).
func ValidateReportFilter(f *ReportFilter) error {
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return FieldErrorf(EINVALID, "to", "is before from")
	}
	switch {
	case f.Limit < 0 || f.Limit > MaxReportLimit:
		return FieldErrorf(EINVALID, "limit", "must be between 1 and %d", MaxReportLimit)
	case f.Limit == 0:
		f.Limit = DefaultReportLimit
	}
	if f.Offset < 0 {
		return FieldErrorf(EINVALID, "offset", "must not be negative")
	}
	if f.Action != "" && !knownAction(f.Action) {
		return FieldErrorf(EINVALID, "action", "unknown action %q", f.Action)
	}
	if f.Status != "" && !knownStatus(f.Status) {
		return FieldErrorf(EINVALID, "status", "unknown status %q", f.Status)
	}
	var err error
	f.Search, err = cleanText("search", f.Search, maxSearchLen, false)
	return err
}

func knownAction(a Action) bool {
	for _, k := range Actions {
		if k == a {
			return true
		}
	}
	return false
}

func knownStatus(s Status) bool {
	for _, k := range Statuses {
		if k == s {
			return true
		}
	}
	return false
}

// Reports returns a page of report entries matching f, with the total count
// of matching entries. Errors: EINVALID (see ValidateReportFilter).
func (s *Service) Reports(ctx context.Context, f ReportFilter) (ReportPage, error) {
	if err := ValidateReportFilter(&f); err != nil {
		return ReportPage{}, err
	}
	var page ReportPage
	err := s.view(ctx, func(tx Tx) error {
		var err error
		page, err = tx.Reports(f)
		return err
	})
	return page, err
}

// EachReport calls fn with every report entry matching f, whatever its
// limit and offset, in one read transaction: an export of a million
// entries holds one at a time. Errors: EINVALID (see
// ValidateReportFilter), and fn's.
func (s *Service) EachReport(ctx context.Context, f ReportFilter, fn func(ReportEntry) error) error {
	f.Limit = 0
	if err := ValidateReportFilter(&f); err != nil {
		return err
	}
	return s.view(ctx, func(tx Tx) error { return tx.EachReport(f, fn) })
}

// countSlot is the slot the store counts in: every time zone's offset is
// a multiple of 15 minutes, so these slots fold into local hours and days
// exactly.
const countSlot = 15 * time.Minute

// ReportCounts counts the report entries matching f by status per hour,
// or per day when perDay, of the time zone loc. The counts come ordered
// by time, then in the order of Statuses. Errors: EINVALID.
func (s *Service) ReportCounts(ctx context.Context, f ReportFilter, loc *time.Location, perDay bool) ([]ReportCount, error) {
	f.Limit = 0
	if err := ValidateReportFilter(&f); err != nil {
		return nil, err
	}
	var slots []ReportCount
	err := s.view(ctx, func(tx Tx) error {
		var err error
		slots, err = tx.ReportCounts(f, countSlot)
		return err
	})
	if err != nil {
		return nil, err
	}
	type key struct {
		start  time.Time
		status Status
	}
	sums := map[key]int{}
	for _, c := range slots {
		t := c.Start.In(loc)
		// The hour by subtraction, not time.Date: the hour repeated when
		// daylight-saving time ends is two hours.
		start := t.Add(-time.Duration(t.Minute())*time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
		if perDay {
			start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		}
		sums[key{start, c.Status}] += c.Count
	}
	out := make([]ReportCount, 0, len(sums))
	for k, n := range sums {
		out = append(out, ReportCount{Start: k.start, Status: k.status, Count: n})
	}
	slices.SortFunc(out, func(a, b ReportCount) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return slices.Index(Statuses, a.Status) - slices.Index(Statuses, b.Status)
	})
	return out, nil
}
