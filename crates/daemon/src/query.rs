//! Query strings as dockerd reads them: repeated keys, docker's loose booleans, integers,
//! and the `filters` parameter (JSON: `{"key":{"value":true}}`, or the older
//! `{"key":["value"]}`).

use std::collections::BTreeMap;

use crate::error::{ApiError, ApiResult};

/// A request's query parameters, in order.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string (percent-decoding keys and values).
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Query { pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key`, or "" when absent.
    pub fn str(&self, key: &str) -> &str {
        self.get(key).unwrap_or_default()
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// docker's boolean: anything but "", "0", "no", "false" and "none" is true.
    pub fn bool(&self, key: &str) -> bool {
        let v = self.str(key).trim().to_ascii_lowercase();
        !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
    }

    /// A boolean that defaults to `default` when the key is absent or empty.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(v) if !v.is_empty() => self.bool(key),
            _ => default,
        }
    }

    /// An integer parameter, None when absent or empty.
    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                ApiError::BadParameter(format!("invalid value for {key}: {v:?}: not an integer"))
            }),
        }
    }

    /// The `filters` parameter.
    pub fn filters(&self) -> ApiResult<Filters> {
        Filters::parse(self.str("filters"))
    }
}

/// Parsed `filters`: each key with its values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    map: BTreeMap<String, Vec<String>>,
}

impl Filters {
    /// Parses docker's filter JSON; "" is no filter.
    pub fn parse(raw: &str) -> ApiResult<Filters> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Filters::default());
        }
        let bad = |e: serde_json::Error| ApiError::BadParameter(format!("invalid filter: {e}"));
        let v: BTreeMap<String, serde_json::Value> = serde_json::from_str(raw).map_err(bad)?;
        let mut map = BTreeMap::new();
        for (key, values) in v {
            let list = match values {
                serde_json::Value::Object(o) => o.into_iter().map(|(k, _)| k).collect(),
                serde_json::Value::Array(a) => a
                    .into_iter()
                    .map(|x| match x {
                        serde_json::Value::String(s) => Ok(s),
                        other => Err(other),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| invalid_value(&key))?,
                _ => return Err(invalid_value(&key)),
            };
            map.insert(key, list);
        }
        Ok(Filters { map })
    }

    /// Refuses keys not in `accepted`, with dockerd's message.
    pub fn accept(&self, accepted: &[&str]) -> ApiResult<()> {
        match self.map.keys().find(|k| !accepted.contains(&k.as_str())) {
            Some(k) => Err(ApiError::BadParameter(format!("invalid filter '{k}'"))),
            None => Ok(()),
        }
    }

    /// The values of `key` (empty when absent).
    pub fn values(&self, key: &str) -> &[String] {
        self.map.get(key).map(Vec::as_slice).unwrap_or_default()
    }

    /// Whether `key` is present.
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// A boolean filter (`dangling=true`): None when absent; a value other than
    /// true/false/1/0 is refused.
    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        let values = self.values(key);
        if values.is_empty() {
            return Ok(None);
        }
        let mut out = None;
        for v in values {
            let b = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ApiError::BadParameter(format!(
                        "invalid filter '{key}={v}'"
                    )))
                }
            };
            out = Some(out.map_or(b, |o: bool| o || b));
        }
        Ok(out)
    }

    /// Whether a `label` filter list matches `labels`: every `key` present, every
    /// `key=value` equal (`key!=value` not equal).
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        self.values("label")
            .iter()
            .all(|f| label_matches(f, labels))
    }
}

fn label_matches(filter: &str, labels: &BTreeMap<String, String>) -> bool {
    if let Some((k, v)) = filter.split_once("!=") {
        return labels.get(k).is_none_or(|x| x != v);
    }
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

fn invalid_value(key: &str) -> ApiError {
    ApiError::BadParameter(format!("invalid filter: values of {key:?} must be strings"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_loose_like_dockers() {
        let q = Query::parse(Some("a=1&b=True&c=no&d=&e=yes&f=0"));
        assert!(q.bool("a") && q.bool("b") && q.bool("e"));
        assert!(!q.bool("c") && !q.bool("d") && !q.bool("f") && !q.bool("missing"));
        assert!(q.bool_or("d", true));
        assert!(!q.bool_or("c", true));
    }

    #[test]
    fn filters_take_both_json_forms() {
        let a = Filters::parse(r#"{"label":{"a=b":true},"dangling":["true"]}"#).unwrap();
        assert_eq!(a.values("label"), ["a=b"]);
        assert_eq!(a.bool("dangling").unwrap(), Some(true));
        assert!(a.accept(&["label", "dangling"]).is_ok());
        let e = a.accept(&["label"]).unwrap_err();
        assert_eq!(e.to_string(), "invalid filter 'dangling'");
        assert!(Filters::parse("{bad").is_err());
        assert!(Filters::parse(r#"{"a":[1]}"#).is_err());
        assert_eq!(Filters::parse("").unwrap(), Filters::default());
    }

    #[test]
    fn labels_match_keys_values_and_negations() {
        let labels = BTreeMap::from([("a".to_string(), "b".to_string())]);
        let f = |s: &str| Filters::parse(&format!(r#"{{"label":["{s}"]}}"#)).unwrap();
        assert!(f("a").labels_match(&labels));
        assert!(f("a=b").labels_match(&labels));
        assert!(!f("a=c").labels_match(&labels));
        assert!(f("a!=c").labels_match(&labels));
        assert!(!f("x").labels_match(&labels));
    }

    #[test]
    fn repeated_keys_and_integers() {
        let q = Query::parse(Some("changes=CMD%20x&changes=ENV%20a%3Db&limit=3&bad=x"));
        assert_eq!(q.all("changes"), ["CMD x", "ENV a=b"]);
        assert_eq!(q.int("limit").unwrap(), Some(3));
        assert!(q.int("bad").is_err());
        assert_eq!(q.int("none").unwrap(), None);
    }
}
