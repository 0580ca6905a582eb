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

/// A project name must be something a person can type and see: not empty, not only spaces,
/// no control characters.
fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::Invalid(
            "a project name cannot be empty; pass --name NAME, or leave --name out to use the directory's name".into(),
        ));
    }
    if name.chars().any(char::is_control) || name != name.trim() {
        return Err(Error::Invalid(format!(
            "the project name '{}' has control characters or leading/trailing spaces; pick a plain name with --name",
            name.escape_debug()
        )));
    }
    Ok(())
}

impl Store {
    /// Adds a project; the name and the root must both be unused.
    pub fn add_project(&self, new: &NewProject) -> Result<Project> {
        check_name(&new.name)?;
        let root = new.root.to_string_lossy();
        if let Some(existing) = self.project_with("root", &root)? {
            return Err(Error::Conflict(format!(
                "'{root}' is already registered as project '{}'; use that project, rename it with `kiln project rename {} NEW_NAME`, or remove it with `kiln project rm {}`",
                existing.name, existing.name, existing.name
            )));
        }
        if let Some(existing) = self.project_with("name", &new.name)? {
            return Err(Error::Conflict(format!(
                "a project named '{}' already exists (at '{}'); pick another name with --name",
                existing.name,
                existing.root.display()
            )));
        }
        self.conn
            .execute(
                "INSERT INTO projects (name, root, language, description, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![new.name, root, new.language, new.description, now_micros()],
            )
            .map_err(|e| self.err(e))?;
        self.project_by_id(self.conn.last_insert_rowid())
    }

    fn project_with(&self, column: &str, value: &str) -> Result<Option<Project>> {
        self.conn
            .query_row(
                &format!("{SELECT} WHERE p.{column} = ?1"),
                [value],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Renames a project; the new name must be valid and unused.
    pub fn rename_project(&self, name: &str, new_name: &str) -> Result<Project> {
        check_name(new_name)?;
        let project = self.project_by_name(name)?;
        if let Some(existing) = self.project_with("name", new_name)? {
            return Err(Error::Conflict(format!(
                "a project named '{}' already exists (at '{}'); pick another name",
                existing.name,
                existing.root.display()
            )));
        }
        self.conn
            .execute(
                "UPDATE projects SET name = ?2 WHERE id = ?1",
                params![project.id, new_name],
            )
            .map_err(|e| self.err(e))?;
        self.project_by_id(project.id)
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
