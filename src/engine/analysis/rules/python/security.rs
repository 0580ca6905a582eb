//! Python security hooks: code execution, shells, deserialization, SQL, secrets, HTTP.

use tree_sitter::Node;

use super::syntax::{callee, first_arg, has_kwargs_splat, kwarg, string_value};
use crate::engine::analysis::context::{Ctx, fix};
use crate::engine::analysis::rules::{known_secret_format, secret_name, secret_value};

fn is_true(ctx: &Ctx<'_>, n: Option<Node<'_>>) -> bool {
    n.is_some_and(|n| n.kind() == "true" || ctx.text_of(n) == "True")
}

/// PY201 / PY202: `eval(...)`, `exec(...)`.
pub(crate) fn eval_exec(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let name = callee(ctx, node);
    let rule = crate::engine::analysis::registry::table()[ctx.rule as usize].name;
    let want = if rule == "eval-used" { "eval" } else { "exec" };
    if name == want || name == format!("builtins.{want}") {
        ctx.report(
            node.child_by_field_name("function").unwrap_or(node),
            format!("'{want}' runs arbitrary code"),
        );
    }
}

const SUBPROCESS: &[&str] = &[
    "subprocess.Popen",
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "Popen",
    "check_call",
    "check_output",
];

/// PY203.
pub(crate) fn shell_true(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if SUBPROCESS.contains(&callee(ctx, node))
        && let Some(v) = kwarg(ctx, node, "shell")
        && is_true(ctx, Some(v))
    {
        ctx.report(
            v.parent().unwrap_or(v),
            "subprocess with shell=True runs its input through a shell; pass a list",
        );
    }
}

/// PY204.
pub(crate) fn os_system(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let name = callee(ctx, node);
    if matches!(name, "os.system" | "os.popen") {
        ctx.report(
            node,
            format!("'{name}' runs a command through the shell; use subprocess with a list"),
        );
    }
}

/// PY205.
pub(crate) fn unsafe_deserialization(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let name = callee(ctx, node);
    if matches!(
        name,
        "pickle.loads"
            | "pickle.load"
            | "cPickle.loads"
            | "cPickle.load"
            | "marshal.loads"
            | "marshal.load"
            | "dill.loads"
            | "dill.load"
            | "shelve.open"
            | "jsonpickle.decode"
    ) {
        ctx.report(
            node,
            format!("'{name}' can run arbitrary code on untrusted data"),
        );
    }
}

/// PY206.
pub(crate) fn yaml_load(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let name = callee(ctx, node);
    if name == "yaml.unsafe_load" {
        ctx.report(
            node,
            "'yaml.unsafe_load' can build arbitrary objects; use yaml.safe_load",
        );
        return;
    }
    if name != "yaml.load" && name != "yaml.load_all" {
        return;
    }
    let loader = kwarg(ctx, node, "Loader").or_else(|| {
        let args = node.child_by_field_name("arguments")?;
        let mut c = args.walk();
        args.named_children(&mut c)
            .filter(|a| a.kind() != "keyword_argument")
            .nth(1)
    });
    if loader.is_some_and(|l| ctx.text_of(l).contains("Safe")) {
        return;
    }
    let func = node.child_by_field_name("function").unwrap_or(node);
    let safe_name = if name == "yaml.load" {
        "yaml.safe_load"
    } else {
        "yaml.safe_load_all"
    };
    let msg =
        format!("'{name}' without a safe Loader can build arbitrary objects; use {safe_name}");
    if loader.is_none() {
        ctx.report_fix(
            node,
            msg,
            fix(
                false,
                format!("use {safe_name}"),
                func.start_byte(),
                func.end_byte(),
                safe_name,
            ),
        );
    } else {
        ctx.report(node, msg);
    }
}

/// Whether an expression builds a string by formatting or concatenation.
fn formatted_string(ctx: &Ctx<'_>, n: Node<'_>) -> bool {
    match n.kind() {
        "string" => {
            let mut c = n.walk();
            n.children(&mut c).any(|ch| ch.kind() == "interpolation")
        }
        "binary_operator" => {
            let op = n
                .child_by_field_name("operator")
                .map_or("", |o| ctx.text_of(o));
            let left = n.child_by_field_name("left");
            let is_str = |x: Option<Node<'_>>| {
                x.is_some_and(|x| matches!(x.kind(), "string" | "concatenated_string"))
            };
            (op == "%" && is_str(left))
                || (op == "+" && (is_str(left) || is_str(n.child_by_field_name("right"))))
        }
        "call" => n.child_by_field_name("function").is_some_and(|f| {
            f.kind() == "attribute"
                && f.child_by_field_name("attribute")
                    .is_some_and(|a| ctx.text_of(a) == "format")
                && f.child_by_field_name("object")
                    .is_some_and(|o| matches!(o.kind(), "string" | "concatenated_string"))
        }),
        _ => false,
    }
}

/// PY207: SQL built by string formatting passed to `execute`.
pub(crate) fn sql_formatting(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(func) = node
        .child_by_field_name("function")
        .filter(|f| f.kind() == "attribute")
    else {
        return;
    };
    if !func.child_by_field_name("attribute").is_some_and(|a| {
        matches!(
            ctx.text_of(a),
            "execute" | "executemany" | "executescript" | "raw"
        )
    }) {
        return;
    }
    if let Some(arg) = first_arg(node)
        && formatted_string(ctx, arg)
    {
        let lower = ctx.text_of(arg).to_ascii_lowercase();
        if [
            "select", "insert", "update", "delete", "where", "create", "drop", "alter", "pragma",
        ]
        .iter()
        .any(|k| lower.contains(k))
        {
            ctx.report(
                arg,
                "SQL built by string formatting; pass parameters to execute() instead",
            );
        }
    }
}

/// PY208: literals assigned to secret-looking names, or in a known key format.
pub(crate) fn hardcoded_secret(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let (name, value) = match node.kind() {
        "assignment" => (
            node.child_by_field_name("left"),
            node.child_by_field_name("right"),
        ),
        "pair" => (
            node.child_by_field_name("key"),
            node.child_by_field_name("value"),
        ),
        "keyword_argument" | "default_parameter" | "typed_default_parameter" => (
            node.child_by_field_name("name"),
            node.child_by_field_name("value"),
        ),
        _ => return,
    };
    let (Some(name), Some(value)) = (name, value) else {
        return;
    };
    let Some(lit) = string_value(ctx, value) else {
        return;
    };
    let name_text = match name.kind() {
        "identifier" => ctx.text_of(name),
        "attribute" => name
            .child_by_field_name("attribute")
            .map_or("", |a| ctx.text_of(a)),
        "string" => string_value(ctx, name).unwrap_or(""),
        _ => return,
    };
    if let Some(kind) = known_secret_format(lit) {
        ctx.report(value, format!("hard-coded credential ({kind})"));
    } else if secret_name(name_text) && secret_value(lit) {
        ctx.report(value, format!("hard-coded secret assigned to '{name_text}'; load it from the environment or a secret store"));
    }
}

/// PY209 / PY211: `requests` calls without `timeout`, or with `verify=False`.
pub(crate) fn requests_call(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let name = callee(ctx, node);
    let Some(method) = name
        .strip_prefix("requests.")
        .or_else(|| name.strip_prefix("httpx."))
    else {
        return;
    };
    if !matches!(
        method,
        "get" | "post" | "put" | "delete" | "patch" | "head" | "options" | "request"
    ) {
        return;
    }
    let rule = crate::engine::analysis::registry::table()[ctx.rule as usize].name;
    if rule == "request-without-timeout" {
        if kwarg(ctx, node, "timeout").is_none()
            && !has_kwargs_splat(node)
            && name.starts_with("requests.")
        {
            ctx.report(node, format!("'{name}' without a timeout can hang forever"));
        }
    } else if let Some(v) = kwarg(ctx, node, "verify")
        && (v.kind() == "false" || ctx.text_of(v) == "False")
    {
        ctx.report(
            v.parent().unwrap_or(v),
            "TLS certificate verification disabled",
        );
    }
}

/// PY210.
pub(crate) fn weak_hash(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let name = callee(ctx, node);
    let weak = matches!(name, "hashlib.md5" | "hashlib.sha1")
        || (name == "hashlib.new"
            && first_arg(node)
                .and_then(|a| string_value(ctx, a))
                .is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "md5" | "sha1")));
    if weak && kwarg(ctx, node, "usedforsecurity").is_none_or(|v| ctx.text_of(v) != "False") {
        ctx.report(
            node,
            "weak hash; pass usedforsecurity=False if it is not for security, or use sha256",
        );
    }
}

/// PY212.
pub(crate) fn insecure_tempfile(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if matches!(callee(ctx, node), "tempfile.mktemp" | "mktemp") {
        ctx.report(
            node,
            "'mktemp' is racy; use tempfile.mkstemp or NamedTemporaryFile",
        );
    }
}

/// PY213.
pub(crate) fn bind_all_interfaces(ctx: &mut Ctx<'_>, node: Node<'_>) {
    if string_value(ctx, node) == Some("0.0.0.0") {
        ctx.report(
            node,
            "binding to all interfaces exposes the service to the network",
        );
    }
}

/// PY214: `tarfile` extraction without a filter.
pub(crate) fn tar_extractall(ctx: &mut Ctx<'_>, node: Node<'_>) {
    let Some(func) = node
        .child_by_field_name("function")
        .filter(|f| f.kind() == "attribute")
    else {
        return;
    };
    if func
        .child_by_field_name("attribute")
        .is_some_and(|a| ctx.text_of(a) == "extractall")
        && kwarg(ctx, node, "filter").is_none()
        && kwarg(ctx, node, "members").is_none()
        && !has_kwargs_splat(node)
        && ctx.text_of(func).to_ascii_lowercase().contains("tar")
    {
        ctx.report(
            node,
            "extractall() without filter= can write outside the target directory",
        );
    }
}
