package routingtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// PostgresURL creates an empty database for the test on the server that
// PD_TEST_POSTGRES names (a URL of a user who may create databases;
// .ci/run starts a throw-away server and sets it) and returns its URL;
// the database is dropped when the test ends. Without PD_TEST_POSTGRES
// the test skips, and under CI=1 it fails.
func PostgresURL(t testing.TB) string {
	t.Helper()
	if os.Getenv("PD_TEST_POSTGRES") == "" && os.Getenv("CI") != "" {
		t.Fatal("PD_TEST_POSTGRES is not set: .ci/run starts a PostgreSQL server for the tests (. .ci/postgres)")
	}
	admin, u, db := testServer(t)
	defer db.Close()
	name := "pd_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := db.ExecContext(context.Background(), `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create a test database on PD_TEST_POSTGRES: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(context.Background(), `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop the test database: %v", err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// PostgresCachedURL returns the URL of a database on PD_TEST_POSTGRES's
// server that is kept between runs under name (letters, digits and _):
// build fills it the first time. Benchmarks use it for data sets that
// take longer to write than they take to run. Without PD_TEST_POSTGRES
// the benchmark skips.
func PostgresCachedURL(tb testing.TB, name string, build func(url string) error) string {
	tb.Helper()
	_, u, db := testServer(tb)
	defer db.Close()
	ctx := context.Background()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	if n == 0 {
		building := name + "_building"
		if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+building+` WITH (FORCE)`); err != nil {
			tb.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `CREATE DATABASE `+building); err != nil {
			tb.Fatal(err)
		}
		u.Path = "/" + building
		if err := build(u.String()); err != nil {
			tb.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `ALTER DATABASE `+building+` RENAME TO `+name); err != nil {
			tb.Fatal(err)
		}
	}
	u.Path = "/" + name
	return u.String()
}

// testServer reads PD_TEST_POSTGRES (skipping without it) and connects
// to it: the URL as given and parsed, and the connection.
func testServer(tb testing.TB) (string, *url.URL, *sql.DB) {
	tb.Helper()
	admin := os.Getenv("PD_TEST_POSTGRES")
	if admin == "" {
		tb.Skip("no PostgreSQL to test against: set PD_TEST_POSTGRES (or run . .ci/postgres as root)")
	}
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("PD_TEST_POSTGRES: %v", err)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		tb.Fatal(err)
	}
	return admin, u, db
}
