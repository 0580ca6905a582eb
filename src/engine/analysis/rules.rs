//! The rule tables of each language, and helpers several languages share.

pub(crate) mod javascript;
pub(crate) mod python;
pub(crate) mod rust;

use tree_sitter::Node;

use super::context::Ctx;

/// Reports TODO/FIXME/XXX/HACK markers in a comment node.
pub(crate) fn todo_marker(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let text = ctx.text_of(node);
    for marker in ["TODO", "FIXME", "XXX", "HACK"] {
        if let Some(i) = text.find(marker) {
            let before = text[..i].chars().next_back();
            let after = text[i + marker.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !word(before) && !word(after) {
                let start = node.start_byte() + i;
                ctx.report_span(
                    start,
                    start + marker.len(),
                    format!("{marker} marker left in the code"),
                    None,
                );
                return;
            }
        }
    }
}

/// Shannon entropy in bits per character.
pub(crate) fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether a string looks like a known credential format.
pub(crate) fn known_secret_format(s: &str) -> Option<&'static str> {
    let alnum_run = |rest: &str, min: usize| {
        rest.bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            .count()
            >= min
    };
    let checks: [(&str, usize, &str); 9] = [
        ("AKIA", 16, "AWS access key id"),
        ("ghp_", 36, "GitHub token"),
        ("github_pat_", 40, "GitHub token"),
        ("xoxb-", 20, "Slack token"),
        ("xoxp-", 20, "Slack token"),
        ("sk_live_", 20, "Stripe secret key"),
        ("sk-ant-", 30, "Anthropic API key"),
        ("sk-proj-", 30, "OpenAI API key"),
        ("AIza", 35, "Google API key"),
    ];
    for (prefix, min, what) in checks {
        if let Some(rest) = s.strip_prefix(prefix)
            && alnum_run(rest, min)
        {
            return Some(what);
        }
    }
    if s.contains("-----BEGIN") && s.contains("PRIVATE KEY-----") {
        return Some("private key");
    }
    None
}

/// Whether a name says it holds a credential (`api_key`, `TOKEN`, `db_password`, ...).
pub(crate) fn secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let words = [
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "apikey",
        "api_key",
        "access_key",
        "private_key",
        "auth_key",
        "secret_key",
        "credential",
    ];
    if !words.iter().any(|w| lower.contains(w)) {
        return false;
    }
    // Names about the *kind* of secret, not a secret value.
    ![
        "_type",
        "_name",
        "_field",
        "_url",
        "_uri",
        "_file",
        "_path",
        "_len",
        "_length",
        "_prefix",
        "_header",
        "_env",
        "_var",
        "_regex",
        "_pattern",
        "_key_name",
        "_id",
    ]
    .iter()
    .any(|s| lower.ends_with(s))
}

/// Whether a literal assigned to a secret-looking name looks like a real secret.
pub(crate) fn secret_value(value: &str) -> bool {
    if known_secret_format(value).is_some() {
        return true;
    }
    value.len() >= 12
        && value.len() <= 200
        && !value.contains(char::is_whitespace)
        && !value.contains(['<', '>', '{', '}', '$', '%', '/'])
        && value.bytes().any(|b| b.is_ascii_digit())
        && value.bytes().any(|b| b.is_ascii_alphabetic())
        && entropy(value) >= 3.0
}
