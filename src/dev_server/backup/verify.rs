//! Whether a file is an intact Temporal dev server database: SQLite's integrity check, the
//! server's tables, at least one namespace. Every backup passes it before it gets its name,
//! and every restore before it replaces anything.

use super::open_read_only;
use anyhow::{Context, Result, bail};
use rusqlite::Connection;
use std::path::Path;

/// Tables every Temporal dev server database has: a file without them is not one.
pub const SERVER_TABLES: [&str; 7] = [
    "namespaces",
    "executions",
    "current_executions",
    "history_node",
    "history_tree",
    "timer_tasks",
    "executions_visibility",
];

/// What a database holds, as counted by `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contents {
    pub namespaces: u64,
    /// Workflow executions the server keeps (open, and closed within their retention).
    pub executions: u64,
}

/// Checks that `path` is an intact Temporal dev server database and counts what it holds.
pub fn verify(path: &Path) -> Result<Contents> {
    let conn = open_read_only(path)?;
    check_integrity(&conn, path)?;
    check_tables(&conn, path)?;
    let contents = Contents {
        namespaces: count_rows(&conn, path, "namespaces")?,
        executions: count_rows(&conn, path, "executions")?,
    };
    if contents.namespaces == 0 {
        bail!(
            "{} has no namespace: not a database the server ever ran on",
            path.display()
        );
    }
    Ok(contents)
}

/// `PRAGMA integrity_check`: every page, index and constraint, `ok` or the problems found.
fn check_integrity(conn: &Connection, path: &Path) -> Result<()> {
    let problems = strings(conn, "PRAGMA integrity_check")
        .with_context(|| format!("{} is not a readable SQLite database", path.display()))?;
    if problems != ["ok"] {
        let shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
        bail!(
            "{}: integrity check failed ({} problems): {}",
            path.display(),
            problems.len(),
            shown.join("; ")
        );
    }
    Ok(())
}

fn check_tables(conn: &Connection, path: &Path) -> Result<()> {
    let tables = strings(conn, "SELECT name FROM sqlite_master WHERE type = 'table'")
        .with_context(|| format!("cannot list the tables of {}", path.display()))?;
    let missing: Vec<&str> = SERVER_TABLES
        .into_iter()
        .filter(|table| !tables.iter().any(|t| t == table))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} is not a Temporal dev server database: it has no table {}",
            path.display(),
            missing.join(", ")
        );
    }
    Ok(())
}

/// The first column of every row `sql` returns, as text.
fn strings(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare(sql)?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect()
}

fn count_rows(conn: &Connection, path: &Path, table: &str) -> Result<u64> {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get::<_, i64>(0)
    })
    .map(|n| n.max(0) as u64)
    .with_context(|| format!("cannot count the {table} of {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::super::fake_server_db;
    use super::*;
    use std::fs;

    #[test]
    fn verify_refuses_what_is_not_an_intact_server_database() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.db");
        fs::write(&text, "not a database at all, just some text ".repeat(200)).unwrap();
        let err = format!("{:#}", verify(&text).unwrap_err());
        assert!(err.contains("not a readable SQLite database"), "{err}");

        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute("CREATE TABLE executions (id INTEGER)", [])
            .unwrap();
        let err = format!("{:#}", verify(&other).unwrap_err());
        assert!(
            err.contains("not a Temporal dev server database")
                && err.contains("namespaces")
                && !err.contains(" executions,"),
            "{err}"
        );

        // A page of the executions table overwritten: the file opens, the check finds it.
        let broken = dir.path().join("broken.db");
        let conn = fake_server_db(&broken, "delete");
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO executions (v) SELECT printf('run-%05d', i) FROM n",
            [],
        )
        .unwrap();
        let root: i64 = conn
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 'executions'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        drop(conn);
        let mut bytes = fs::read(&broken).unwrap();
        let page = 4096 * (root as usize - 1);
        bytes[page..page + 64].fill(0xA5);
        fs::write(&broken, bytes).unwrap();
        let err = format!("{:#}", verify(&broken).unwrap_err());
        assert!(
            err.contains("integrity check failed") || err.contains("malformed"),
            "{err}"
        );
    }
}
