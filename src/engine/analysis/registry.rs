//! Every rule, and the per-language dispatch tables of an enabled rule set.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::Error;
use super::config::AnalysisConfig;
pub use super::config::Params;
use super::finding::Severity;
use super::language::Language;
use super::rule::Rule;
use super::rules;

/// Every rule kiln has, internal ones included, in a fixed order (the order is the index).
pub(crate) fn table() -> &'static [Rule] {
    static ALL: OnceLock<Vec<Rule>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = Vec::new();
        v.extend_from_slice(rules::python::RULES);
        v.extend_from_slice(rules::rust::RULES);
        v.extend_from_slice(rules::javascript::RULES);
        v
    })
}

/// The user-visible rules, sorted by id.
pub fn all_rules() -> Vec<&'static Rule> {
    let mut v: Vec<&Rule> = table().iter().filter(|r| !r.internal).collect();
    v.sort_by_key(|r| r.id);
    v
}

pub fn rule_by_id(id: &str) -> Option<&'static Rule> {
    table()
        .iter()
        .find(|r| !r.internal && r.id.eq_ignore_ascii_case(id))
}

/// Which hooks to call for each node kind of one language.
#[derive(Debug, Default)]
pub(crate) struct Dispatch {
    pub enter: Vec<Vec<u16>>,
    pub leave: Vec<Vec<u16>>,
    pub finish: Vec<u16>,
    pub syntax: Option<u16>,
}

/// The enabled rules with their severities, ready to run.
#[derive(Debug)]
pub struct RuleSet {
    enabled: Vec<bool>,
    severity: Vec<Severity>,
    pub(crate) params: Params,
    dispatch: Vec<Dispatch>,
    fingerprint: u64,
    pub(crate) test_paths: Vec<String>,
    pub(crate) script_paths: Vec<String>,
    pub(crate) max_file_bytes: u64,
}

fn matches(selector: &str, id: &str) -> bool {
    selector.eq_ignore_ascii_case("ALL")
        || id
            .get(..selector.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(selector))
}

impl RuleSet {
    /// Builds the rule set of a config; unknown rule ids in it are errors.
    pub fn new(config: &AnalysisConfig) -> Result<Self, Error> {
        Self::with_selection(config, &[], &[])
    }

    /// As [`RuleSet::new`], with `--select`/`--ignore` from the command line on top.
    pub fn with_selection(
        config: &AnalysisConfig,
        select: &[String],
        ignore: &[String],
    ) -> Result<Self, Error> {
        let rules = table();
        let visible = |s: &str| rules.iter().any(|r| !r.internal && matches(s, r.id));
        let select: Vec<&String> = if select.is_empty() {
            config.select.iter().collect()
        } else {
            select.iter().collect()
        };
        let ignore: Vec<&String> = config.ignore.iter().chain(ignore).collect();
        for s in select.iter().chain(&ignore) {
            if !visible(s) {
                return Err(Error::UnknownRule((*s).clone()));
            }
        }
        for id in config.rules.keys() {
            if rule_by_id(id).is_none() {
                return Err(Error::UnknownRule(id.clone()));
            }
        }
        let mut enabled = Vec::with_capacity(rules.len());
        let mut severity = Vec::with_capacity(rules.len());
        for r in rules {
            let over = config
                .rules
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(r.id))
                .map(|(_, v)| v);
            let ignored = ignore.iter().any(|s| matches(s, r.id));
            let selected = select.is_empty() || select.iter().any(|s| matches(s, r.id));
            let on = r.internal || (!ignored && over.and_then(|o| o.enabled).unwrap_or(selected));
            enabled.push(on);
            severity.push(over.and_then(|o| o.severity).unwrap_or(r.severity));
        }
        let params = Params::of(config);
        let dispatch = Language::ALL
            .iter()
            .map(|&lang| build_dispatch(lang, rules, &enabled))
            .collect();
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            env!("CARGO_PKG_VERSION").hash(&mut h);
            enabled.hash(&mut h);
            severity.hash(&mut h);
            params.hash(&mut h);
            config.test_paths.hash(&mut h);
            config.script_paths.hash(&mut h);
            h.finish()
        };
        Ok(Self {
            enabled,
            severity,
            params,
            dispatch,
            fingerprint,
            test_paths: config.test_paths.clone(),
            script_paths: config.script_paths.clone(),
            max_file_bytes: config.max_file_bytes,
        })
    }

    pub(crate) fn dispatch(&self, lang: Language) -> &Dispatch {
        &self.dispatch[lang as usize]
    }

    pub(crate) fn severity(&self, rule: u16) -> Severity {
        self.severity[rule as usize]
    }

    pub fn is_enabled(&self, id: &str) -> bool {
        table()
            .iter()
            .position(|r| r.id == id)
            .is_some_and(|i| self.enabled[i])
    }

    /// Changes whenever the findings of an unchanged file could change (cache key).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

impl Default for RuleSet {
    #[allow(
        clippy::expect_used,
        reason = "the default config names only registered rules (a unit test builds it)"
    )]
    fn default() -> Self {
        Self::new(&AnalysisConfig::default()).expect("the default config names no unknown rules")
    }
}

fn build_dispatch(lang: Language, rules: &[Rule], enabled: &[bool]) -> Dispatch {
    let grammar = lang.grammar();
    let count = grammar.node_kind_count();
    let mut by_name: HashMap<&str, Vec<u16>> = HashMap::new();
    for id in 0..count as u16 {
        if grammar.node_kind_is_named(id)
            && let Some(name) = grammar.node_kind_for_id(id)
        {
            by_name.entry(name).or_default().push(id);
        }
    }
    let mut d = Dispatch {
        enter: vec![Vec::new(); count],
        leave: vec![Vec::new(); count],
        ..Dispatch::default()
    };
    for (i, r) in rules.iter().enumerate() {
        if !enabled[i] || !lang.is_in(r.family) {
            continue;
        }
        let i = i as u16;
        if r.name == "syntax-error" {
            d.syntax = Some(i);
        }
        if r.on_enter.is_some() {
            for kind in r.enter {
                for &id in by_name.get(kind).map_or(&[][..], Vec::as_slice) {
                    d.enter[id as usize].push(i);
                }
            }
        }
        if r.on_leave.is_some() {
            for kind in r.leave {
                for &id in by_name.get(kind).map_or(&[][..], Vec::as_slice) {
                    // Leave hooks run in reverse registration order: internal state last.
                    d.leave[id as usize].insert(0, i);
                }
            }
        }
        if r.finish.is_some() {
            d.finish.push(i);
        }
    }
    d
}
