//! SARIF 2.1.0: one run, the rules that fired in `tool.driver.rules`, results with 1-based
//! regions (columns in UTF-16 code units, declared by `columnKind`), fixes as replacements and
//! notes as tool execution notifications.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Value, json};

use super::display_path;
use crate::engine::analysis::batch::CheckOutcome;
use crate::engine::analysis::finding::{Range, Severity};
use crate::engine::analysis::registry::rule_by_id;
use crate::engine::analysis::rule::Rule;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
        Severity::Hint => "none",
    }
}

/// Percent-encodes what may not appear in a URI reference.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn region(r: &Range) -> Value {
    json!({
        "startLine": r.start.line + 1,
        "startColumn": r.start.character + 1,
        "endLine": r.end.line + 1,
        "endColumn": r.end.character + 1,
    })
}

fn descriptor(rule: &Rule) -> Value {
    json!({
        "id": rule.id,
        "name": rule.name,
        "shortDescription": { "text": rule.summary },
        "fullDescription": { "text": rule.explanation },
        "help": { "text": rule.explanation, "markdown": rule.explain() },
        "defaultConfiguration": { "level": level(rule.severity) },
        "properties": { "category": rule.category.as_str(), "tags": [rule.category.as_str()] },
    })
}

/// The outcome as a SARIF 2.1.0 log.
pub fn sarif(outcome: &CheckOutcome) -> String {
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, f) in outcome.findings() {
        let n = index.len();
        index.entry(f.rule.as_str()).or_insert(n);
    }
    let mut rules: Vec<(usize, Value)> = index
        .iter()
        .filter_map(|(id, &i)| rule_by_id(id).map(|r| (i, descriptor(r))))
        .collect();
    rules.sort_by_key(|(i, _)| *i);
    let results: Vec<Value> = outcome
        .findings()
        .map(|(file, f)| {
            let path = uri(&display_path(&file.path));
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": index.get(f.rule.as_str()).copied().unwrap_or(0),
                "level": level(f.severity),
                "message": { "text": f.message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": path },
                        "region": region(&f.range),
                    }
                }],
            });
            if let Some(fix) = &f.fix {
                result["fixes"] = json!([{
                    "description": { "text": fix.title },
                    "artifactChanges": [{
                        "artifactLocation": { "uri": path },
                        "replacements": fix.edits.iter().map(|e| json!({
                            "deletedRegion": region(&e.range),
                            "insertedContent": { "text": e.text },
                        })).collect::<Vec<_>>(),
                    }],
                }]);
            }
            result
        })
        .collect();
    let notifications: Vec<Value> = outcome
        .notes
        .iter()
        .map(|n| {
            json!({
                "level": "note",
                "message": { "text": n.message },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": uri(&display_path(&n.path)) } } }],
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "kiln",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
                }
            },
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications,
            }],
            "columnKind": "utf16CodeUnits",
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&log).unwrap_or_default()
}
