//! The Python rules. The first entry is internal: it keeps the scope and import state the
//! other hooks read, so it must stay first.

mod correctness;
mod scope;
mod security;
mod syntax;

#[allow(clippy::enum_glob_use)] // the rule tables read better with bare variant names
use crate::engine::analysis::finding::{Category::*, Severity::*};
use crate::engine::analysis::language::Family;
use crate::engine::analysis::rule::{FixAvailability, Rule};

pub(crate) const RULE_NONE_CMP: &str = "none-comparison";
const PY: Family = Family::Python;

pub(crate) static RULES: &[Rule] = &[
    Rule {
        internal: true,
        enter: &[
            "identifier",
            "function_definition",
            "import_statement",
            "import_from_statement",
            "try_statement",
            "if_statement",
            "elif_clause",
            "for_statement",
            "while_statement",
            "except_clause",
            "boolean_operator",
            "conditional_expression",
            "for_in_clause",
            "if_clause",
            "case_clause",
            "type",
            "assignment",
            "augmented_assignment",
            "class_definition",
            "call",
        ],
        on_enter: Some(scope::state_enter),
        leave: &[
            "function_definition",
            "class_definition",
            "import_statement",
            "import_from_statement",
            "try_statement",
        ],
        on_leave: Some(scope::state_leave),
        ..Rule::new("_PY_STATE", "python-state", PY, Style, Hint)
    },
    Rule {
        summary: "The file does not parse.",
        explanation: "Tree-sitter recovered from a syntax error; the range shows the unexpected or missing token. Other findings near it may be wrong until it is fixed.",
        bad: "def f(:\n    return 1\n",
        good: "def f():\n    return 1\n",
        ..Rule::new("PY001", "syntax-error", PY, Correctness, Error)
    },
    Rule {
        summary: "Bare `except:` catches everything, including KeyboardInterrupt and SystemExit.",
        explanation: "Catch the exceptions you expect, or at least `Exception`, so Ctrl-C and sys.exit() still work.",
        bad: "try:\n    run()\nexcept:\n    log()\n",
        good: "try:\n    run()\nexcept ValueError:\n    log()\n",
        fix: FixAvailability::Unsafe,
        enter: &["except_clause"],
        on_enter: Some(correctness::bare_except),
        ..Rule::new("PY101", "bare-except", PY, Correctness, Warning)
    },
    Rule {
        summary: "A broad exception is caught and silently ignored.",
        explanation: "`except Exception: pass` hides every bug in the try block. Catch the specific exception, or log it.",
        bad: "try:\n    run()\nexcept Exception:\n    pass\n",
        good: "try:\n    run()\nexcept Exception:\n    logger.exception('run failed')\n",
        enter: &["except_clause"],
        on_enter: Some(correctness::swallowed_exception),
        ..Rule::new("PY102", "swallowed-exception", PY, Correctness, Warning)
    },
    Rule {
        summary: "A mutable default argument is shared between calls.",
        explanation: "Default values are evaluated once, when the function is defined; a list or dict default keeps what earlier calls put in it. Default to None and create the value inside.",
        bad: "def add(item, items=[]):\n    items.append(item)\n    return items\n",
        good: "def add(item, items=None):\n    items = [] if items is None else items\n    items.append(item)\n    return items\n",
        enter: &["default_parameter", "typed_default_parameter"],
        on_enter: Some(correctness::mutable_default),
        ..Rule::new(
            "PY103",
            "mutable-default-argument",
            PY,
            Correctness,
            Warning,
        )
    },
    Rule {
        summary: "A dictionary literal repeats a key.",
        explanation: "Only the last value of a repeated key survives; the earlier one is usually a typo.",
        bad: "COLORS = {'red': 1, 'green': 2, 'red': 3}\n",
        good: "COLORS = {'red': 1, 'green': 2, 'blue': 3}\n",
        enter: &["dictionary"],
        on_enter: Some(correctness::duplicate_keys),
        ..Rule::new("PY104", "duplicate-dict-key", PY, Correctness, Error)
    },
    Rule {
        summary: "Code after return, raise, continue or break never runs.",
        explanation: "Statements after an unconditional jump in the same block are dead; delete them or fix the control flow.",
        bad: "def f():\n    return 1\n    print('never')\n",
        good: "def f():\n    print('first')\n    return 1\n",
        enter: &["block"],
        on_enter: Some(correctness::unreachable),
        ..Rule::new("PY105", "unreachable-code", PY, Correctness, Warning)
    },
    Rule {
        summary: "A variable, parameter or function shadows a builtin.",
        explanation: "Shadowing `list`, `id` or `type` makes the builtin unreachable in that scope and confuses readers.",
        bad: "def count(list):\n    return len(list)\n",
        good: "def count(items):\n    return len(items)\n",
        enter: &[
            "assignment",
            "function_definition",
            "parameters",
            "lambda_parameters",
        ],
        on_enter: Some(correctness::redefined_builtin),
        ..Rule::new("PY106", "redefined-builtin", PY, Style, Warning)
    },
    Rule {
        summary: "Comparison to None with `==` or `!=`.",
        explanation: "None is a singleton; compare with `is` / `is not`, which cannot be fooled by a custom `__eq__`.",
        bad: "if value == None:\n    pass\n",
        good: "if value is None:\n    pass\n",
        fix: FixAvailability::Safe,
        enter: &["comparison_operator"],
        on_enter: Some(correctness::singleton_comparison),
        ..Rule::new("PY107", RULE_NONE_CMP, PY, Style, Warning)
    },
    Rule {
        summary: "Comparison to True or False.",
        explanation: "Test the truth value directly: `if flag:` / `if not flag:`.",
        bad: "if done == True:\n    stop()\n",
        good: "if done:\n    stop()\n",
        fix: FixAvailability::Unsafe,
        enter: &["comparison_operator"],
        on_enter: Some(correctness::singleton_comparison),
        ..Rule::new("PY108", "bool-comparison", PY, Style, Warning)
    },
    Rule {
        summary: "An import is never used.",
        explanation: "Unused imports slow start-up and hide real dependencies. Names re-exported with `import x as x`, in `__all__`, in `__init__.py`, in try blocks (optional dependencies) and `__future__` imports are exempt.",
        bad: "import os\nimport sys\n\nprint(sys.argv)\n",
        good: "import sys\n\nprint(sys.argv)\n",
        fix: FixAvailability::Safe,
        enter: &["import_statement", "import_from_statement"],
        on_enter: Some(scope::import_enter),
        finish: Some(scope::unused_imports),
        ..Rule::new("PY109", "unused-import", PY, Correctness, Warning)
    },
    Rule {
        summary: "A local variable is assigned but never used.",
        explanation: "Usually a typo or leftover. Prefix deliberately ignored values with `_`.",
        bad: "def f():\n    result = compute()\n    return 1\n",
        good: "def f():\n    result = compute()\n    return result\n",
        enter: &["assignment"],
        on_enter: Some(scope::assignment_enter),
        leave: &["function_definition"],
        on_leave: Some(scope::unused_locals),
        ..Rule::new("PY110", "unused-variable", PY, Correctness, Warning)
    },
    Rule {
        summary: "`from module import *` hides where names come from.",
        explanation: "Star imports pollute the namespace and defeat unused-import and undefined-name checks. Import the names you use.",
        bad: "from os.path import *\n",
        good: "from os.path import join\n",
        enter: &["import_from_statement"],
        on_enter: Some(correctness::star_import),
        ..Rule::new("PY111", "star-import", PY, Style, Warning)
    },
    Rule {
        summary: "An f-string has no placeholders.",
        explanation: "The `f` prefix does nothing without `{...}`; it usually means a forgotten placeholder.",
        bad: "greeting = f'hello'\n",
        good: "greeting = 'hello'\n",
        fix: FixAvailability::Safe,
        enter: &["string"],
        on_enter: Some(correctness::fstring_without_placeholders),
        ..Rule::new("PY112", "fstring-without-placeholders", PY, Style, Warning)
    },
    Rule {
        summary: "`assert` used outside tests.",
        explanation: "Asserts are stripped under `python -O`, so checks that guard behaviour disappear. Raise an exception instead.",
        bad: "def pay(amount):\n    assert amount > 0\n",
        good: "def pay(amount):\n    if amount <= 0:\n        raise ValueError('amount must be positive')\n",
        enter: &["assert_statement"],
        on_enter: Some(correctness::assert_outside_tests),
        ..Rule::new("PY113", "assert-outside-tests", PY, Security, Info)
    },
    Rule {
        summary: "A file is opened outside a `with` block.",
        explanation: "Without `with`, the file stays open until garbage collection, or forever if an exception escapes.",
        bad: "data = open('f.txt').read()\n",
        good: "with open('f.txt') as f:\n    data = f.read()\n",
        enter: &["call"],
        on_enter: Some(correctness::open_without_with),
        ..Rule::new("PY114", "open-without-with", PY, Correctness, Warning)
    },
    Rule {
        summary: "A mutable class attribute is shared by every instance.",
        explanation: "A list or dict assigned in the class body belongs to the class; appending through one instance changes them all. Create it in `__init__` or annotate it `ClassVar`.",
        bad: "class Cart:\n    items = []\n",
        good: "class Cart:\n    def __init__(self):\n        self.items = []\n",
        enter: &["class_definition"],
        on_enter: Some(correctness::mutable_class_attribute),
        ..Rule::new("PY115", "mutable-class-attribute", PY, Correctness, Warning)
    },
    Rule {
        summary: "`is` compares a literal.",
        explanation: "`is` tests identity; whether two equal strings or numbers are the same object is an implementation detail. Use `==`.",
        bad: "if name is 'admin':\n    pass\n",
        good: "if name == 'admin':\n    pass\n",
        fix: FixAvailability::Safe,
        enter: &["comparison_operator"],
        on_enter: Some(correctness::is_literal),
        ..Rule::new("PY116", "is-literal-comparison", PY, Correctness, Error)
    },
    Rule {
        summary: "Types compared with `type(x) == T`.",
        explanation: "Comparing types ignores subclasses; use `isinstance(x, T)`.",
        bad: "if type(x) == int:\n    pass\n",
        good: "if isinstance(x, int):\n    pass\n",
        enter: &["comparison_operator"],
        on_enter: Some(correctness::type_comparison),
        ..Rule::new("PY117", "type-comparison", PY, Style, Info)
    },
    Rule {
        summary: "A variable is assigned to itself.",
        explanation: "`x = x` does nothing in a function; it is usually a typo for another name.",
        bad: "def f(x):\n    x = x\n    return x\n",
        good: "def f(x):\n    y = x\n    return y\n",
        enter: &["assignment"],
        on_enter: Some(correctness::self_assignment),
        ..Rule::new("PY118", "self-assignment", PY, Correctness, Warning)
    },
    Rule {
        summary: "A lambda is assigned to a name.",
        explanation: "`f = lambda x: ...` loses the function's name in tracebacks; write `def f(x):`.",
        bad: "double = lambda x: x * 2\n",
        good: "def double(x):\n    return x * 2\n",
        enter: &["assignment"],
        on_enter: Some(correctness::lambda_assignment),
        ..Rule::new("PY119", "lambda-assignment", PY, Style, Info)
    },
    Rule {
        summary: "`not x in y` instead of `x not in y`.",
        explanation: "`x not in y` and `x is not y` read as English and avoid precedence surprises.",
        bad: "if not key in table:\n    pass\n",
        good: "if key not in table:\n    pass\n",
        fix: FixAvailability::Safe,
        enter: &["not_operator"],
        on_enter: Some(correctness::negated_membership),
        ..Rule::new("PY120", "negated-membership", PY, Style, Info)
    },
    Rule {
        summary: "`raise NotImplemented` instead of `NotImplementedError`.",
        explanation: "`NotImplemented` is a value for binary operators, not an exception; raising it is a TypeError.",
        bad: "def area(self):\n    raise NotImplemented\n",
        good: "def area(self):\n    raise NotImplementedError\n",
        fix: FixAvailability::Safe,
        enter: &["raise_statement"],
        on_enter: Some(correctness::raise_not_implemented),
        ..Rule::new("PY121", "raise-not-implemented", PY, Correctness, Error)
    },
    Rule {
        summary: "`eval` runs arbitrary code.",
        explanation: "Never pass untrusted input to eval; parse it (`ast.literal_eval`, `json.loads`) instead.",
        bad: "value = eval(user_input)\n",
        good: "import ast\nvalue = ast.literal_eval(user_input)\n",
        enter: &["call"],
        on_enter: Some(security::eval_exec),
        ..Rule::new("PY201", "eval-used", PY, Security, Error)
    },
    Rule {
        summary: "`exec` runs arbitrary code.",
        explanation: "exec on strings built at run time is a code-injection risk and defeats every tool that reads code.",
        bad: "exec(source)\n",
        good: "handlers[name]()\n",
        enter: &["call"],
        on_enter: Some(security::eval_exec),
        ..Rule::new("PY202", "exec-used", PY, Security, Error)
    },
    Rule {
        summary: "subprocess called with `shell=True`.",
        explanation: "The command goes through /bin/sh, so any interpolated value can inject commands. Pass an argument list.",
        bad: "import subprocess\nsubprocess.run(f'ls {path}', shell=True)\n",
        good: "import subprocess\nsubprocess.run(['ls', path])\n",
        enter: &["call"],
        on_enter: Some(security::shell_true),
        ..Rule::new("PY203", "subprocess-shell-true", PY, Security, Error)
    },
    Rule {
        summary: "`os.system` / `os.popen` run a shell command.",
        explanation: "Both go through the shell; use subprocess with an argument list.",
        bad: "import os\nos.system('rm -rf ' + path)\n",
        good: "import subprocess\nsubprocess.run(['rm', '-rf', path])\n",
        enter: &["call"],
        on_enter: Some(security::os_system),
        ..Rule::new("PY204", "os-system", PY, Security, Error)
    },
    Rule {
        summary: "Deserialising with pickle or marshal.",
        explanation: "Loading a pickle runs code chosen by whoever wrote it; only load data you produced. Use JSON for data from outside.",
        bad: "import pickle\nobj = pickle.loads(payload)\n",
        good: "import json\nobj = json.loads(payload)\n",
        enter: &["call"],
        on_enter: Some(security::unsafe_deserialization),
        ..Rule::new("PY205", "unsafe-deserialization", PY, Security, Warning)
    },
    Rule {
        summary: "`yaml.load` without a safe loader.",
        explanation: "PyYAML's full loader can construct arbitrary Python objects. Use `yaml.safe_load` or `Loader=yaml.SafeLoader`.",
        bad: "import yaml\nconfig = yaml.load(text)\n",
        good: "import yaml\nconfig = yaml.safe_load(text)\n",
        fix: FixAvailability::Unsafe,
        enter: &["call"],
        on_enter: Some(security::yaml_load),
        ..Rule::new("PY206", "yaml-unsafe-load", PY, Security, Error)
    },
    Rule {
        summary: "SQL built by string formatting is passed to `execute`.",
        explanation: "Formatting values into SQL allows injection. Use placeholders and pass the values separately.",
        bad: "cursor.execute(f\"SELECT * FROM users WHERE name = '{name}'\")\n",
        good: "cursor.execute('SELECT * FROM users WHERE name = ?', (name,))\n",
        enter: &["call"],
        on_enter: Some(security::sql_formatting),
        ..Rule::new("PY207", "sql-string-formatting", PY, Security, Error)
    },
    Rule {
        summary: "A secret is hard-coded in the source.",
        explanation: "Known key formats (AWS, GitHub, Slack, Stripe, OpenAI, Anthropic, Google, private keys) anywhere, and high-entropy literals assigned to names like key, token or password. Load secrets from the environment or a secret store.",
        bad: "API_TOKEN = 'f9a8d7c6b5e4a3f2e1d0c9b8'\n",
        good: "import os\nAPI_TOKEN = os.environ['API_TOKEN']\n",
        enter: &[
            "assignment",
            "keyword_argument",
            "pair",
            "default_parameter",
            "typed_default_parameter",
        ],
        on_enter: Some(security::hardcoded_secret),
        ..Rule::new("PY208", "hardcoded-secret", PY, Security, Error)
    },
    Rule {
        summary: "`requests` call without a timeout.",
        explanation: "requests waits forever by default; a stalled server hangs the program. Pass `timeout=`.",
        bad: "import requests\nr = requests.get(url)\n",
        good: "import requests\nr = requests.get(url, timeout=10)\n",
        enter: &["call"],
        on_enter: Some(security::requests_call),
        ..Rule::new("PY209", "request-without-timeout", PY, Security, Warning)
    },
    Rule {
        summary: "Weak hash (MD5 or SHA-1).",
        explanation: "MD5 and SHA-1 are broken for security; use SHA-256, or mark non-security uses with `usedforsecurity=False`.",
        bad: "import hashlib\ndigest = hashlib.md5(password).hexdigest()\n",
        good: "import hashlib\ndigest = hashlib.sha256(data).hexdigest()\n",
        enter: &["call"],
        on_enter: Some(security::weak_hash),
        ..Rule::new("PY210", "weak-hash", PY, Security, Info)
    },
    Rule {
        summary: "TLS certificate verification disabled.",
        explanation: "`verify=False` accepts any certificate, so anyone on the path can read and change the traffic.",
        bad: "import requests\nrequests.get(url, verify=False, timeout=5)\n",
        good: "import requests\nrequests.get(url, timeout=5)\n",
        enter: &["call"],
        on_enter: Some(security::requests_call),
        ..Rule::new("PY211", "tls-verify-disabled", PY, Security, Error)
    },
    Rule {
        summary: "`tempfile.mktemp` is racy.",
        explanation: "Another process can create the file between mktemp returning a name and you opening it. Use `mkstemp` or `NamedTemporaryFile`.",
        bad: "import tempfile\npath = tempfile.mktemp()\n",
        good: "import tempfile\nfd, path = tempfile.mkstemp()\n",
        enter: &["call"],
        on_enter: Some(security::insecure_tempfile),
        ..Rule::new("PY212", "insecure-tempfile", PY, Security, Warning)
    },
    Rule {
        summary: "Binding to all network interfaces.",
        explanation: "`0.0.0.0` exposes the service to every network the host is on; bind to 127.0.0.1 unless that is intended.",
        bad: "server.bind(('0.0.0.0', 8080))\n",
        good: "server.bind(('127.0.0.1', 8080))\n",
        enter: &["string"],
        on_enter: Some(security::bind_all_interfaces),
        ..Rule::new("PY213", "bind-all-interfaces", PY, Security, Info)
    },
    Rule {
        summary: "tarfile `extractall()` without a filter.",
        explanation: "Archive members with `..` or absolute paths can write anywhere. Pass `filter='data'` (Python 3.12+) or check members.",
        bad: "import tarfile\nwith tarfile.open(p) as tar:\n    tar.extractall(dest)\n",
        good: "import tarfile\nwith tarfile.open(p) as tar:\n    tar.extractall(dest, filter='data')\n",
        enter: &["call"],
        on_enter: Some(security::tar_extractall),
        ..Rule::new("PY214", "tar-extractall", PY, Security, Warning)
    },
    Rule {
        summary: "A function's cyclomatic complexity is over the threshold.",
        explanation: "Each branch, loop, `and`/`or` and except adds a path. Over `analysis.complexity_threshold` (default 10), split the function.",
        bad: "def f(a):\n    if a == 1: return 1\n    if a == 2: return 2\n    if a == 3: return 3\n    if a == 4: return 4\n    if a == 5: return 5\n    if a == 6: return 6\n    if a == 7: return 7\n    if a == 8: return 8\n    if a == 9: return 9\n    if a == 10: return 10\n    return 0\n",
        good: "def f(a):\n    return a if 1 <= a <= 10 else 0\n",
        leave: &["function_definition"],
        on_leave: Some(scope::complexity_leave),
        ..Rule::new("PY301", "complex-function", PY, Complexity, Warning)
    },
    Rule {
        summary: "A function takes too many arguments.",
        explanation: "More than `analysis.max_arguments` (default 5, not counting self/cls and *args/**kwargs) is hard to call correctly; group them in an object.",
        bad: "def draw(x, y, w, h, color, border):\n    pass\n",
        good: "def draw(rect, style):\n    pass\n",
        enter: &["function_definition"],
        on_enter: Some(scope::too_many_arguments),
        ..Rule::new("PY302", "too-many-arguments", PY, Complexity, Info)
    },
    Rule {
        summary: "A public module-level function or class has no docstring.",
        explanation: "Public API needs a one-line summary of what it does. Names starting with `_` and test files are exempt.",
        bad: "def connect(url):\n    return url\n",
        good: "def connect(url):\n    \"\"\"Open a connection to url.\"\"\"\n    return url\n",
        enter: &["function_definition", "class_definition"],
        on_enter: Some(correctness::missing_docstring),
        ..Rule::new("PY401", "missing-docstring", PY, Style, Info)
    },
    Rule {
        summary: "`print()` left in library code.",
        explanation: "Libraries should log, not print. Scripts, tests, `__main__` blocks and `main()` functions are exempt; turn off with `analysis.print_in_library = false`.",
        bad: "def save(x):\n    print('saving', x)\n",
        good: "import logging\n\ndef save(x):\n    logging.getLogger(__name__).info('saving %s', x)\n",
        enter: &["call"],
        on_enter: Some(correctness::print_in_library),
        ..Rule::new("PY402", "print-in-library", PY, Style, Info)
    },
    Rule {
        summary: "TODO/FIXME marker.",
        explanation: "Markers are fine while working; this lists them so they are not forgotten.",
        bad: "# TODO: handle errors\n",
        good: "# Errors are handled by the caller.\n",
        enter: &["comment"],
        on_enter: Some(super::todo_marker),
        ..Rule::new("PY403", "todo-comment", PY, Style, Hint)
    },
    Rule {
        summary: "Iterating or testing membership on `dict.keys()`.",
        explanation: "`for k in d` and `k in d` already use the keys without building a view.",
        bad: "for key in table.keys():\n    use(key)\n",
        good: "for key in table:\n    use(key)\n",
        fix: FixAvailability::Safe,
        enter: &["for_statement", "for_in_clause", "comparison_operator"],
        on_enter: Some(correctness::dict_keys),
        ..Rule::new("PY501", "dict-keys-iteration", PY, Performance, Info)
    },
    Rule {
        summary: "`dict()`, `list()` or `tuple()` with no arguments.",
        explanation: "The literal `{}`, `[]` or `()` is faster (no name lookup or call) and shorter.",
        bad: "cache = dict()\n",
        good: "cache = {}\n",
        fix: FixAvailability::Safe,
        enter: &["call"],
        on_enter: Some(correctness::empty_collection_call),
        ..Rule::new("PY502", "empty-collection-call", PY, Performance, Hint)
    },
];
