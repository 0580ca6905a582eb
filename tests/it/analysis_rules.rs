//! Every rule's documented bad example triggers it and its good example does not; plus
//! near-miss fixtures per rule that must stay silent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln::engine::analysis::{FileKind, Finding, Language, RuleSet, all_rules, analyze_source};

fn lang_of(family: &str) -> Language {
    match family {
        "python" => Language::Python,
        "rust" => Language::Rust,
        "javascript" => Language::JavaScript,
        _ => Language::TypeScript,
    }
}

fn run(code: &str, lang: Language) -> Vec<Finding> {
    analyze_source(code, lang, FileKind::default(), &RuleSet::default()).unwrap()
}

fn ids(code: &str, lang: Language) -> Vec<String> {
    run(code, lang).into_iter().map(|f| f.rule).collect()
}

#[test]
fn every_rule_has_docs_and_examples_that_work() {
    let mut failures = Vec::new();
    for rule in all_rules() {
        let family = serde_json::to_value(rule.family).unwrap();
        let lang = lang_of(family.as_str().unwrap());
        assert!(
            !rule.summary.is_empty() && !rule.explanation.is_empty(),
            "{} lacks docs",
            rule.id
        );
        let bad = ids(rule.bad, lang);
        if !bad.iter().any(|r| r == rule.id) {
            failures.push(format!(
                "{}: bad example does not trigger (got {bad:?})",
                rule.id
            ));
        }
        let good = ids(rule.good, lang);
        if good.iter().any(|r| r == rule.id) {
            failures.push(format!("{}: good example triggers", rule.id));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn at_least_thirty_python_and_twelve_rust_and_js_rules() {
    let count = |f: &str| {
        all_rules()
            .iter()
            .filter(|r| {
                serde_json::to_value(r.family)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .starts_with(f)
            })
            .count()
    };
    assert!(count("python") >= 30, "python: {}", count("python"));
    assert!(count("rust") >= 12, "rust: {}", count("rust"));
    assert!(count("javascript") + count("typescript") >= 12);
}

/// (rule, code that must trigger it, near-miss code that must not).
const PYTHON_FIXTURES: &[(&str, &str, &str)] = &[
    ("PY001", "x = (1,\n", "x = (1,\n     2)\n"),
    (
        "PY101",
        "try:\n    f()\nexcept:\n    raise\n",
        "try:\n    f()\nexcept OSError:\n    pass\n",
    ),
    (
        "PY102",
        "try:\n    f()\nexcept BaseException:\n    ...\n",
        "try:\n    f()\nexcept KeyError:\n    pass\n",
    ),
    (
        "PY102",
        "for x in y:\n    try:\n        f()\n    except Exception:\n        continue\n",
        "try:\n    f()\nexcept Exception as e:\n    log(e)\n",
    ),
    (
        "PY103",
        "def f(a={}):\n    return a\n",
        "def f(a=()):\n    return a\n",
    ),
    (
        "PY103",
        "def f(a: list = list()):\n    return a\n",
        "def f(a: tuple = tuple()):\n    return a\n",
    ),
    (
        "PY104",
        "d = {1: 'a', 1: 'b'}\n",
        "d = {1: 'a', 2: 'b', x: 1, x: 2}\n",
    ),
    (
        "PY105",
        "for x in y:\n    break\n    f()\n",
        "for x in y:\n    if x:\n        break\n    f()\n",
    ),
    (
        "PY106",
        "id = 3\n",
        "class A:\n    id = 3\n    def open(self):\n        pass\n",
    ),
    (
        "PY107",
        "if x != None:\n    pass\n",
        "if x is not None:\n    pass\n",
    ),
    ("PY108", "ok = x == False\n", "ok = x == 0\n"),
    (
        "PY109",
        "from a import b, c\nc()\n",
        "from a import b\n__all__ = ['b']\n",
    ),
    ("PY109", "import os.path\n", "import os.path\nos.getcwd()\n"),
    (
        "PY110",
        "def f():\n    x = 1\n    y = 2\n    return y\n",
        "def f():\n    x = 1\n    def g():\n        return x\n    return g\n",
    ),
    ("PY111", "from x import *\n", "from x import y\n"),
    ("PY112", "s = F\"a\"\n", "s = f\"{a}\"\n"),
    ("PY113", "assert x\n", "if not x:\n    raise ValueError\n"),
    (
        "PY114",
        "f = open('x')\n",
        "with open('x') as f, open('y') as g:\n    pass\n",
    ),
    (
        "PY115",
        "class A:\n    cache = {}\n",
        "class A:\n    __slots__ = []\n    cache: ClassVar[dict] = {}\n",
    ),
    (
        "PY116",
        "if x is not 1:\n    pass\n",
        "if x is not None:\n    pass\n",
    ),
    (
        "PY117",
        "ok = type(a) != type(b)\n",
        "ok = type(a) is type(b)\n",
    ),
    (
        "PY118",
        "def f(self):\n    self.x = self.x\n",
        "def f(self):\n    self.x = x\n",
    ),
    ("PY119", "f = lambda: 0\n", "fs = [lambda: 0]\n"),
    (
        "PY120",
        "if not x is y:\n    pass\n",
        "if not x:\n    pass\n",
    ),
    (
        "PY121",
        "raise NotImplemented()\n",
        "raise NotImplementedError()\n",
    ),
    ("PY201", "eval('1')\n", "literal_eval('1')\n"),
    ("PY202", "exec(code)\n", "executor.exec(code)\n"),
    (
        "PY203",
        "subprocess.Popen(cmd, shell=True)\n",
        "subprocess.Popen(cmd, shell=False)\n",
    ),
    ("PY204", "os.popen('ls')\n", "os.path.join('a')\n"),
    ("PY205", "marshal.loads(b)\n", "json.loads(b)\n"),
    (
        "PY206",
        "yaml.load(s, Loader=yaml.FullLoader)\n",
        "yaml.load(s, Loader=yaml.SafeLoader)\n",
    ),
    (
        "PY207",
        "cur.execute('SELECT * FROM t WHERE id = %s' % uid)\n",
        "cur.execute('SELECT * FROM t WHERE id = %s', (uid,))\n",
    ),
    (
        "PY208",
        "aws = 'AKIAIOSFODNN7EXAMPLE'\n",
        "password = 'hunter'\nTOKEN_TYPE = 'Bearer'\n",
    ),
    (
        "PY208",
        "connect(password='Xk9mP2vL8qR4wZ7t')\n",
        "connect(password=os.environ['PW'])\n",
    ),
    (
        "PY209",
        "requests.post(url, json=body)\n",
        "requests.post(url, json=body, timeout=3)\nrequests.get(url, **opts)\n",
    ),
    (
        "PY210",
        "hashlib.new('md5')\n",
        "hashlib.md5(b, usedforsecurity=False)\n",
    ),
    (
        "PY211",
        "requests.post(u, verify=False, timeout=1)\n",
        "requests.post(u, verify=True, timeout=1)\n",
    ),
    ("PY212", "tempfile.mktemp()\n", "tempfile.mkdtemp()\n"),
    ("PY213", "HOST = '0.0.0.0'\n", "HOST = '127.0.0.1'\n"),
    (
        "PY214",
        "tarfile.open(p).extractall()\n",
        "zipfile.ZipFile(p).extractall()\n",
    ),
    (
        "PY301",
        "def f(a, b):\n    return [x for x in a if x and b or a and x or b and a or x and a or b and x or a and b]\n",
        "def f(a):\n    if a:\n        return 1\n    return 2\n",
    ),
    (
        "PY302",
        "def f(a, b, c, d, e, g):\n    pass\n",
        "def f(self, a, b, c, d, e, *args, **kw):\n    pass\n",
    ),
    (
        "PY401",
        "class Public:\n    pass\n",
        "class _Private:\n    pass\n\ndef outer():\n    \"\"\"Doc.\"\"\"\n    def inner():\n        pass\n",
    ),
    (
        "PY402",
        "print('x')\n",
        "if __name__ == '__main__':\n    print('x')\n\ndef main():\n    print('y')\n",
    ),
    (
        "PY403",
        "x = 1  # FIXME later\n",
        "x = 1  # TODOS are plural; see todolist\n",
    ),
    ("PY501", "ok = k in d.keys()\n", "ok = k in d.values()\n"),
    ("PY502", "x = list()\n", "x = list(y)\n"),
];

#[test]
fn python_fixtures_trigger_and_near_misses_do_not() {
    let mut failures = Vec::new();
    for (id, bad, near) in PYTHON_FIXTURES {
        let got = ids(bad, Language::Python);
        if !got.iter().any(|r| r == id) {
            failures.push(format!("{id}: {bad:?} does not trigger (got {got:?})"));
        }
        let got = ids(near, Language::Python);
        if got.iter().any(|r| r == id) {
            failures.push(format!("{id}: near miss {near:?} triggers"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// False positives found in the corpus precision sample, kept as regressions.
#[test]
fn precision_regressions_stay_silent() {
    let quiet: &[(&str, &str)] = &[
        (
            "PY110",
            "def test():\n    class Meta:\n        app_label = 'x'\n    return Meta\n",
        ),
        (
            "PY110",
            "def f():\n    class E(enum.Enum):\n        A = enum.auto()\n    return E\n",
        ),
        (
            "PY106",
            "def f(x, getattr=getattr):\n    return getattr(x, 'a')\n",
        ),
        (
            "PY109",
            "from _winapi import HIGH\n__all__ = []\n__all__.extend(['HIGH'])\n",
        ),
        ("PY402", "def dump(x, file):\n    print(x, file=file)\n"),
    ];
    for (id, code) in quiet {
        let got = ids(code, Language::Python);
        assert!(!got.iter().any(|r| r == id), "{id} fires on {code:?}");
    }
    // A class inside a function still sees its enclosing locals as used.
    let got = ids(
        "def f():\n    x = 1\n    class A:\n        y = x\n    return A\n",
        Language::Python,
    );
    assert!(!got.contains(&"PY110".to_owned()), "{got:?}");
}

#[test]
fn docs_list_every_rule() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/analysis.md")).unwrap();
    for rule in all_rules() {
        assert!(
            docs.contains(&format!("| {} | {} |", rule.id, rule.name)),
            "docs/analysis.md lacks {}",
            rule.id
        );
    }
}

/// (rule, language, trigger, near miss) for Rust, JavaScript and TypeScript.
const OTHER_FIXTURES: &[(&str, Language, &str, &str)] = &[
    ("RS001", Language::Rust, "fn f( {}\n", "fn f() {}\n"),
    (
        "RS101",
        Language::Rust,
        "fn f(x: Option<u8>) -> u8 { x.unwrap() }\n",
        "#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() { Some(1).unwrap(); }\n}\nfn g(x: Option<u8>) -> u8 { x.unwrap_or(0) }\n",
    ),
    (
        "RS102",
        Language::Rust,
        "fn f(x: Option<u8>) -> u8 { x.expect(\"x\") }\n",
        "#[test]\nfn t() { Some(1).expect(\"x\"); }\n",
    ),
    (
        "RS103",
        Language::Rust,
        "fn f() { std::todo!() }\n",
        "fn f() { let todo = 1; }\n",
    ),
    (
        "RS104",
        Language::Rust,
        "fn f() { unimplemented!(\"x\") }\n",
        "fn f() { unreachable!() }\n",
    ),
    (
        "RS105",
        Language::Rust,
        "fn f() {\n    // safe enough\n\n\n\n    unsafe { g() }\n}\n",
        "fn f() {\n    unsafe { g() } // SAFETY: g has no preconditions\n}\n",
    ),
    (
        "RS106",
        Language::Rust,
        "pub fn f() { panic!(\"x\") }\n",
        "#[cfg(test)]\nmod tests {\n    fn f() { panic!(\"x\") }\n}\n",
    ),
    (
        "RS107",
        Language::Rust,
        "fn f() { dbg!(1); }\n",
        "fn f() { debug_assert!(true); }\n",
    ),
    (
        "RS108",
        Language::Rust,
        "fn f() { eprintln!(\"x\"); }\n",
        "fn f() { let _ = format!(\"x\"); }\n",
    ),
    (
        "RS109",
        Language::Rust,
        "/* FIXME */ fn f() {}\n",
        "// TODOS elsewhere\nfn f() {}\n",
    ),
    (
        "RS110",
        Language::Rust,
        "fn f(v: Vec<u8>) { mem::forget(v) }\n",
        "fn f(v: Vec<u8>) { forget_me(v) }\n",
    ),
    (
        "RS111",
        Language::Rust,
        "fn f(x: u32) -> f32 { unsafe { transmute::<u32, f32>(x) } }\n",
        "fn f(x: u32) -> f32 { f32::from_bits(x) }\n",
    ),
    (
        "RS112",
        Language::Rust,
        "fn f() { process::exit(2) }\n",
        "fn f() -> i32 { exit_code() }\n",
    ),
    (
        "RS113",
        Language::Rust,
        "fn f() { loop {} }\n",
        "fn f() { loop { break; } }\n",
    ),
    (
        "RS114",
        Language::Rust,
        "fn f(v: &[u8]) -> Vec<u8> { v.to_vec().clone() }\n",
        "fn f(v: &Vec<u8>) -> Vec<u8> { v.clone() }\n",
    ),
    ("JS001", Language::JavaScript, "let = ;\n", "let a = 1;\n"),
    (
        "JS101",
        Language::JavaScript,
        "window.eval(s);\n",
        "evaluate(s);\n",
    ),
    (
        "JS102",
        Language::JavaScript,
        "if (a != 1) {}\n",
        "if (a == null) {}\nif (b !== 1) {}\n",
    ),
    (
        "JS103",
        Language::JavaScript,
        "for (var i = 0; i < 3; i++) {}\n",
        "for (let i = 0; i < 3; i++) {}\n",
    ),
    (
        "JS104",
        Language::JavaScript,
        "el.outerHTML += x;\n",
        "el.innerText = x;\n",
    ),
    (
        "JS105",
        Language::JavaScript,
        "console.debug(x);\n",
        "console.error(x);\n",
    ),
    (
        "JS106",
        Language::JavaScript,
        "debugger;\n",
        "const debuggerOn = true;\n",
    ),
    (
        "JS107",
        Language::JavaScript,
        "new Function('return 1');\n",
        "new FunctionCache();\n",
    ),
    (
        "JS108",
        Language::JavaScript,
        "document.writeln(x);\n",
        "document.createElement('p');\n",
    ),
    (
        "JS109",
        Language::JavaScript,
        "try { f(); } catch {}\n",
        "try { f(); } catch (e) { log(e); }\n",
    ),
    (
        "JS110",
        Language::JavaScript,
        "fetch(url);\n",
        "await fetch(url);\np.then(ok, fail);\n",
    ),
    (
        "JS111",
        Language::JavaScript,
        "/* HACK */ f();\n",
        "// hackathon\nf();\n",
    ),
    (
        "JS112",
        Language::JavaScript,
        "setInterval(`tick()`, 5);\n",
        "setInterval(() => tick(), 5);\n",
    ),
    (
        "TS101",
        Language::Tsx,
        "let x: any[] = [];\n",
        "let x: unknown[] = [];\nconst anyValue = 1;\n",
    ),
    ("TS102", Language::TypeScript, "f(a!.b);\n", "f(!a);\n"),
    (
        "TS103",
        Language::TypeScript,
        "/* @ts-ignore */ f();\n",
        "// @ts-expect-error: wrong type\nf();\n",
    ),
];

#[test]
fn rust_js_ts_fixtures_trigger_and_near_misses_do_not() {
    let mut failures = Vec::new();
    for (id, lang, bad, near) in OTHER_FIXTURES {
        let got = ids(bad, *lang);
        if !got.iter().any(|r| r == id) {
            failures.push(format!("{id}: {bad:?} does not trigger (got {got:?})"));
        }
        let got = ids(near, *lang);
        if got.iter().any(|r| r == id) {
            failures.push(format!("{id}: near miss {near:?} triggers"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
