//! ARG and ENV as docker scopes them. Global ARGs (before the first FROM) are seen by
//! FROM lines only; a stage sees an ARG once it declares it (taking the `--build-arg`,
//! else its default, else the global one's value); ENV values win over ARG values when
//! words are expanded; RUN gets the ARGs with values in its environment.

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::Arg;

/// Build args docker accepts without an ARG.
const PREDEFINED: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "SOURCE_DATE_EPOCH",
];

/// The build args given, and which of them some ARG declared.
#[derive(Debug, Default)]
pub struct BuildArgs {
    given: BTreeMap<String, String>,
    consumed: BTreeSet<String>,
}

impl BuildArgs {
    /// The `--build-arg`s; a None value is taken from `lookup_env` (the client's
    /// environment) and dropped when that has none.
    pub fn new(args: &BTreeMap<String, Option<String>>) -> BuildArgs {
        let given = args
            .iter()
            .filter_map(|(k, v)| {
                let v = v.clone().or_else(|| std::env::var(k).ok())?;
                Some((k.clone(), v))
            })
            .collect();
        BuildArgs {
            given,
            consumed: BTreeSet::new(),
        }
    }

    /// The value given for `name`, noting it as consumed.
    pub fn take(&mut self, name: &str) -> Option<String> {
        let v = self.given.get(name).cloned();
        if v.is_some() {
            self.consumed.insert(name.to_string());
        }
        v
    }

    /// The args given that no ARG declared, sorted (docker's predefined proxy args and
    /// `SOURCE_DATE_EPOCH` need no ARG).
    pub fn unused(&self) -> Vec<String> {
        self.given
            .keys()
            .filter(|k| !self.consumed.contains(*k) && !PREDEFINED.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

/// The ARGs a stage (or the global scope) has declared, in order, with their values.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Name → value (None: declared without a value).
    args: Vec<(String, Option<String>)>,
}

impl Scope {
    /// Declares `arg`: its value is the build arg, else its default (expanded against
    /// `env` with this scope), else `global`'s value of the same name.
    pub fn declare(
        &mut self,
        arg: &Arg,
        build_args: &mut BuildArgs,
        global: Option<&Scope>,
        env: &[String],
        escape: char,
    ) -> Result<(), String> {
        let value = match build_args.take(&arg.name) {
            Some(v) => Some(v),
            None => match &arg.default {
                Some(d) => Some(expand(d, &|k| self.lookup(env, k), escape)?),
                None => global.and_then(|g| g.get(&arg.name).map(String::from)),
            },
        };
        self.args.retain(|(k, _)| k != &arg.name);
        self.args.push((arg.name.clone(), value));
        Ok(())
    }

    /// The value of ARG `name`, if declared with one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// A variable's value for expansion: ENV (`KEY=value` entries) first, then ARGs.
    pub fn lookup(&self, env: &[String], name: &str) -> Option<String> {
        env.iter()
            .rev()
            .find_map(|e| e.split_once('=').filter(|(k, _)| *k == name))
            .map(|(_, v)| v.to_string())
            .or_else(|| self.get(name).map(String::from))
    }

    /// `KEY=value` of the ARGs with values that ENV does not override, sorted by name:
    /// what a RUN gets in its environment and in its cache key and history.
    pub fn run_env(&self, env: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self
            .args
            .iter()
            .filter(|(k, _)| {
                !env.iter()
                    .any(|e| e.split_once('=').is_some_and(|(ek, _)| ek == k))
            })
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();
        out.sort();
        out
    }
}

/// Expands `word` (docker's rules: see [`crate::expand`]) with escape character
/// `escape`; the error is the expander's message.
pub fn expand(
    word: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String, String> {
    crate::expand::expand(word, lookup, escape).map_err(|e| e.to_string())
}
