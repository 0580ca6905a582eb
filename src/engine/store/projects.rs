//! Projects: a named root directory kiln works in.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::{Error, Result, Store, now_micros};

/// A project as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub root: PathBuf,
    pub language: Option<String>,
    pub description: String,
    pub created_at: i64,
    /// Number of runs recorded for the project.
    pub runs: i64,
}

/// What it takes to add a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    pub name: String,
    pub root: PathBuf,
    pub language: Option<String>,
    pub description: String,
}

const SELECT: &str = "SELECT p.id, p.name, p.root, p.language, p.description, p.created_at,
    (SELECT count(*) FROM runs r WHERE r.project_id = p.id) FROM projects p";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        name: r.get(1)?,
        root: PathBuf::from(r.get::<_, String>(2)?),
        language: r.get(3)?,
        description: r.get(4)?,
        created_at: r.get(5)?,
        runs: r.get(6)?,
    })
}

impl Store {
    /// Adds a project; the name and the root must both be unused.
    pub fn add_project(&self, new: &NewProject) -> Result<Project> {
        let root = new.root.to_string_lossy();
        for (column, value, what) in [
            ("name", new.name.as_ref(), "name"),
            ("root", root.as_ref(), "root"),
        ] {
            let taken: Option<String> = self
                .conn
                .query_row(
                    &format!("SELECT name FROM projects WHERE {column} = ?1"),
                    [value],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            if let Some(existing) = taken {
                return Err(Error::Conflict(format!(
                    "project '{existing}' already has the {what} '{value}'; pick another with --name or remove it with `kiln project rm {existing}`"
                )));
            }
        }
        self.conn
            .execute(
                "INSERT INTO projects (name, root, language, description, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![new.name, root, new.language, new.description, now_micros()],
            )
            .map_err(|e| self.err(e))?;
        self.project_by_id(self.conn.last_insert_rowid())
    }

    pub fn projects(&self) -> Result<Vec<Project>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{SELECT} ORDER BY p.name"))
            .map_err(|e| self.err(e))?;
        stmt.query_map([], from_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }

    pub fn project_by_name(&self, name: &str) -> Result<Project> {
        self.conn
            .query_row(&format!("{SELECT} WHERE p.name = ?1"), [name], from_row)
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::NotFound {
                what: "project",
                id: format!("'{name}'"),
            })
    }

    pub fn project_by_id(&self, id: i64) -> Result<Project> {
        self.conn
            .query_row(&format!("{SELECT} WHERE p.id = ?1"), [id], from_row)
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::NotFound {
                what: "project",
                id: id.to_string(),
            })
    }

    /// The project whose root contains `path`, preferring the deepest root.
    pub fn project_containing(&self, path: &std::path::Path) -> Result<Option<Project>> {
        let projects = self.projects()?;
        Ok(projects
            .into_iter()
            .filter(|p| path.starts_with(&p.root))
            .max_by_key(|p| p.root.components().count()))
    }

    /// Removes a project with all its requests, runs and their rows.
    pub fn remove_project(&self, name: &str) -> Result<Project> {
        let project = self.project_by_name(name)?;
        self.conn
            .execute("DELETE FROM projects WHERE id = ?1", [project.id])
            .map_err(|e| self.err(e))?;
        Ok(project)
    }
}
