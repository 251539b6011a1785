package routing

import "context"

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
