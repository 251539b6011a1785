package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Tables are the store's tables, each after those it refers to.
var Tables = []string{"announcements", "groups", "lines", "users", "user_lines", "settings", "reports",
	"sessions", "schedule_ranges", "holidays", "holiday_groups", "secrets", "announcement_audio"}

// dataTables are the tables a store without data has no row in (settings
// has its one row from the start).
var dataTables = []string{"groups", "lines", "users", "announcements", "reports", "holidays", "sessions", "secrets"}

// Copy copies every row of every table of the store src into the store
// dst, ids included, in one transaction of dst: both are stores of this
// program at the same schema (each opened, and so migrated, first).
// Errors: dst holds data already (it is never merged into), or a read or
// write failed (dst then keeps nothing of the copy).
func Copy(ctx context.Context, src *sql.DB, dst *sql.DB, d Dialect) error {
	for _, t := range dataTables {
		var n int
		if err := dst.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("the target store is not empty: its table %s has %d rows", t, n)
		}
	}
	tx, err := dst.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM settings`); err != nil {
		return err
	}
	for _, t := range Tables {
		if err := copyTable(ctx, src, tx, d, t); err != nil {
			return fmt.Errorf("table %s: %w", t, err)
		}
	}
	if err := d.AfterCopy(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

func copyTable(ctx context.Context, src *sql.DB, dst *sql.Tx, d Dialect, table string) error {
	rows, err := src.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	insert := d.Rebind(`INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) VALUES (` +
		strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + `)`)
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		args := make([]any, len(cols))
		for i, v := range vals {
			args[i] = d.CopyValue(table, cols[i], v)
		}
		if _, err := dst.ExecContext(ctx, insert, args...); err != nil {
			return err
		}
	}
	return rows.Err()
}
