//! The review stage's answer: JSON with issues (severity, location), suggestions and a 0-10
//! score. Malformed JSON is repaired when it can be (code fences, prose around it, trailing
//! commas, a truncated end); otherwise a line-based fallback reads bullets and a `score: N`.

use serde::Serialize;
use serde_json::Value;

use super::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    fn parse(s: &str) -> Self {
        match s.trim().to_lowercase().as_str() {
            "error" | "critical" | "high" | "major" | "blocker" | "bug" => Self::Error,
            "warning" | "warn" | "medium" | "minor" | "moderate" => Self::Warning,
            _ => Self::Info,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub severity: Severity,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub message: String,
}

/// How the review was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewSource {
    Json,
    RepairedJson,
    Fallback,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    pub issues: Vec<Issue>,
    pub suggestions: Vec<String>,
    /// 0 to 10.
    pub score: Option<u8>,
    pub source: ReviewSource,
    /// The model's whole answer.
    pub raw: String,
}

/// Reads a review; fails only when the answer has no JSON, no bullets and no score.
pub fn review(text: &str) -> Result<Review, Error> {
    for candidate in json_candidates(text) {
        if let Ok(v) = serde_json::from_str::<Value>(&candidate)
            && let Some(r) = from_json(&v, text, ReviewSource::Json)
        {
            return Ok(r);
        }
        if let Ok(v) = serde_json::from_str::<Value>(&repair(&candidate))
            && let Some(r) = from_json(&v, text, ReviewSource::RepairedJson)
        {
            return Ok(r);
        }
    }
    fallback(text)
}

fn json_candidates(text: &str) -> Vec<String> {
    let mut out: Vec<String> = super::code_blocks(text)
        .into_iter()
        .filter(|b| b.body.trim_start().starts_with('{'))
        .map(|b| b.body)
        .collect();
    if let Some(start) = text.find('{') {
        let end = text
            .rfind('}')
            .filter(|e| *e > start)
            .map_or(text.len(), |e| e + 1);
        out.push(text[start..end].to_owned());
        out.push(text[start..].to_owned()); // truncated answers
    }
    out
}

/// Removes trailing commas and closes brackets left open.
fn repair(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 8);
    let mut stack = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => stack.push('}'),
            '[' => stack.push(']'),
            '}' | ']' => {
                let trimmed = out.trim_end().len();
                if out[..trimmed].ends_with(',') {
                    out.truncate(trimmed - 1);
                }
                stack.pop();
            }
            _ => {}
        }
        out.push(c);
    }
    if in_string {
        out.push('"');
    }
    let trimmed = out.trim_end().len();
    if out[..trimmed].ends_with(',') {
        out.truncate(trimmed - 1);
    }
    while let Some(c) = stack.pop() {
        out.push(c);
    }
    out
}

fn from_json(v: &Value, raw: &str, source: ReviewSource) -> Option<Review> {
    let obj = v.as_object()?;
    if !["issues", "suggestions", "score"]
        .iter()
        .any(|k| obj.contains_key(*k))
    {
        return None;
    }
    let text_of = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => ["message", "text", "description", "suggestion"]
                .iter()
                .find_map(|k| o.get(*k)?.as_str().map(str::to_owned)),
            _ => None,
        }
    };
    let issues = obj
        .get("issues")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|i| {
                    let message = text_of(i)?;
                    let field = |k: &str| i.get(k);
                    Some(Issue {
                        severity: Severity::parse(
                            field("severity").and_then(Value::as_str).unwrap_or("info"),
                        ),
                        file: field("file")
                            .or_else(|| field("path"))
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        line: field("line").and_then(|l| {
                            l.as_u64()
                                .or_else(|| l.as_str()?.trim().parse().ok())
                                .map(|n| n as u32)
                        }),
                        message,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let suggestions = obj
        .get("suggestions")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(text_of).collect())
        .unwrap_or_default();
    let score = obj.get("score").and_then(|s| {
        s.as_f64()
            .or_else(|| s.as_str().and_then(parse_score))
            .map(clamp_score)
    });
    Some(Review {
        issues,
        suggestions,
        score,
        source,
        raw: raw.to_owned(),
    })
}

fn clamp_score(s: f64) -> u8 {
    s.round().clamp(0.0, 10.0) as u8
}

/// `7`, `7/10`, `7.5 / 10`.
fn parse_score(s: &str) -> Option<f64> {
    let s = s.trim();
    let number: String = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let n: f64 = number.parse().ok()?;
    let rest = s[number.len()..].trim_start();
    match rest.strip_prefix('/') {
        Some(den) => {
            let den: String = den
                .trim()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let den: f64 = den.parse().ok().filter(|d| *d > 0.0)?;
            Some(n * 10.0 / den)
        }
        None => Some(n),
    }
}

fn fallback(text: &str) -> Result<Review, Error> {
    let mut issues = Vec::new();
    let mut suggestions = Vec::new();
    let mut score = None;
    for line in text.lines() {
        let t = line.trim();
        let lower = t.to_lowercase();
        if let Some(pos) = lower.find("score") {
            let after = t[pos + 5..].trim_start_matches([':', ' ', '*', '=']);
            if let Some(s) = parse_score(after) {
                score = Some(clamp_score(s));
                continue;
            }
        }
        let item = t
            .strip_prefix("- ")
            .or_else(|| t.strip_prefix("* "))
            .or_else(|| {
                let digits = t.chars().take_while(char::is_ascii_digit).count();
                (digits > 0)
                    .then(|| t[digits..].strip_prefix(". "))
                    .flatten()
            });
        let Some(item) = item.map(str::trim).filter(|i| !i.is_empty()) else {
            continue;
        };
        let lower_item = item.to_lowercase();
        let tagged = ["error", "bug", "critical", "warning", "issue"]
            .into_iter()
            .find(|w| {
                lower_item.starts_with(w)
                    || lower_item.starts_with(&format!("[{w}"))
                    || lower_item.starts_with(&format!("**{w}"))
            });
        match tagged {
            Some(w) => {
                let message = item
                    .trim_start_matches(|c: char| !c.is_ascii_whitespace() && c != ':')
                    .trim_start_matches([':', ' ']);
                issues.push(Issue {
                    severity: Severity::parse(w),
                    file: None,
                    line: None,
                    message: if message.is_empty() {
                        item.to_owned()
                    } else {
                        message.to_owned()
                    },
                });
            }
            None => suggestions.push(item.to_owned()),
        }
    }
    if issues.is_empty() && suggestions.is_empty() && score.is_none() {
        return Err(Error::Unparseable {
            what: "review (JSON, bullet points or a score)",
            raw: text.to_owned(),
        });
    }
    Ok(Review {
        issues,
        suggestions,
        score,
        source: ReviewSource::Fallback,
        raw: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_json_in_a_fence_with_prose() {
        let text = "Here is my review:\n```json\n{\"issues\": [{\"severity\": \"high\", \"file\": \"a.py\", \"line\": \"3\", \"message\": \"off by one\"}], \"suggestions\": [\"add docs\"], \"score\": 7}\n```\nThanks!";
        let r = review(text).unwrap();
        assert_eq!(r.source, ReviewSource::Json);
        assert_eq!(
            r.issues,
            [Issue {
                severity: Severity::Error,
                file: Some("a.py".into()),
                line: Some(3),
                message: "off by one".into()
            }]
        );
        assert_eq!(r.suggestions, ["add docs"]);
        assert_eq!(r.score, Some(7));
    }

    #[test]
    fn malformed_json_is_repaired_or_falls_back() {
        let trailing = "{\"issues\": [{\"severity\": \"warning\", \"message\": \"x\",},], \"score\": \"8/10\",}";
        let r = review(trailing).unwrap();
        assert_eq!(r.source, ReviewSource::RepairedJson);
        assert_eq!((r.issues.len(), r.score), (1, Some(8)));
        let truncated = "{\"issues\": [], \"suggestions\": [\"split the funct";
        let r = review(truncated).unwrap();
        assert_eq!(r.source, ReviewSource::RepairedJson);
        assert_eq!(r.suggestions, ["split the funct"]);
        let prose =
            "Overall decent.\n- Error: crashes on empty input\n- Consider caching\n\nScore: 6/10";
        let r = review(prose).unwrap();
        assert_eq!(r.source, ReviewSource::Fallback);
        assert_eq!(r.score, Some(6));
        assert_eq!(r.issues[0].severity, Severity::Error);
        assert_eq!(r.issues[0].message, "crashes on empty input");
        assert_eq!(r.suggestions, ["Consider caching"]);
        let err = review("I cannot help with that.").unwrap_err();
        assert_eq!(err.raw(), Some("I cannot help with that."));
        assert_eq!(review("{\"score\": 42}").unwrap().score, Some(10));
    }
}
