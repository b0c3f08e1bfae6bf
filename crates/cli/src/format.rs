//! Output as docker prints it: sizes (`4.86MB`), ages (`2 hours ago`), tab-aligned tables,
//! and Go templates for `--format` with docker's template functions.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

use gtmpl::{Context, Func, FuncError, Template, Value};

/// A size in decimal units with three significant digits, as docker's `units.HumanSize`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", significant(size, 3), UNITS[unit])
}

/// Go's `%.{digits}g` for the non-negative values sizes take: `digits` significant digits,
/// trailing zeros dropped.
fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A duration as docker's `units.HumanDuration` words it.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{secs} seconds"),
        _ if secs / 60 == 1 => "About a minute".into(),
        _ if secs < 3600 => format!("{} minutes", secs / 60),
        _ if hours == 1 => "About an hour".into(),
        _ if secs < 48 * 3600 => format!("{hours} hours"),
        _ if secs < 14 * 24 * 3600 => format!("{} days", secs / (24 * 3600)),
        _ if secs < 60 * 24 * 3600 => format!("{} weeks", secs / (7 * 24 * 3600)),
        _ if secs < 730 * 24 * 3600 => format!("{} months", secs / (30 * 24 * 3600)),
        _ => format!("{} years", secs / (365 * 24 * 3600)),
    }
}

/// Writes rows as a table with columns padded by at least three spaces, like docker's
/// tabwriter settings (Go minwidth 10 counts the padding: 7 here, padding 3).
pub fn table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    table_min(out, 7, header, rows)
}

/// [`table`] with another minimum cell width (Go's minwidth less the padding).
pub fn table_min(
    out: &mut impl Write,
    minwidth: usize,
    header: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut tw = tabwriter::TabWriter::new(Vec::new())
        .minwidth(minwidth)
        .padding(3);
    writeln!(tw, "{}", header.join("\t"))?;
    for row in rows {
        writeln!(tw, "{}", row.join("\t"))?;
    }
    tw.flush()?;
    let text = tw
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    // Docker trims the padding after the last column.
    for line in String::from_utf8_lossy(&text).lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// A parsed `--format` value.
pub enum Format {
    /// The command's own table.
    Default,
    /// `table <template>`: a table whose columns the template picks, with headers.
    Table(String),
    /// A template applied to each item, one line each.
    Template(String),
    /// `json`: each item as one line of JSON.
    Json,
}

impl Format {
    /// Parses docker's `--format` argument.
    pub fn parse(arg: Option<&str>) -> Format {
        match arg.map(str::trim) {
            None | Some("") | Some("table") => Format::Default,
            Some("json") => Format::Json,
            Some(t) if t.starts_with("table ") => Format::Table(t["table ".len()..].to_string()),
            Some(t) => Format::Template(t.to_string()),
        }
    }
}

/// Renders `template` with `item` (a JSON object whose keys are the template's fields).
pub fn render(template: &str, item: &serde_json::Value) -> anyhow::Result<String> {
    Compiled::new(template)?.render(item)
}

/// A `--format` template parsed once, for rendering many items (parsing is the costly
/// part: gtmpl's lexer runs on a thread of its own).
pub struct Compiled(Template);

impl Compiled {
    /// Parses `template` with docker's functions.
    pub fn new(template: &str) -> anyhow::Result<Compiled> {
        let mut tmpl = Template::default();
        add_docker_funcs(&mut tmpl);
        tmpl.parse(unescape(template))
            .map_err(|e| anyhow::anyhow!("template parsing error: {e}"))?;
        Ok(Compiled(tmpl))
    }

    /// Renders the template with `item` (a JSON object whose keys are its fields).
    pub fn render(&self, item: &serde_json::Value) -> anyhow::Result<String> {
        let ctx = Context::from(to_gtmpl(item));
        self.0
            .render(&ctx)
            .map_err(|e| anyhow::anyhow!("template: {e}"))
    }
}

/// Docker accepts `\t` and `\n` written as two characters in --format.
fn unescape(t: &str) -> String {
    t.replace("\\t", "\t").replace("\\n", "\n")
}

/// The header of a `table` template: each `{{.Field}}` becomes its upper-case name.
pub fn table_header(template: &str, names: &HashMap<&str, &str>) -> String {
    let mut out = String::new();
    let mut rest = unescape(template);
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let inner = rest[start + 2..start + end].trim();
        let field = inner
            .trim_start_matches('.')
            .split_whitespace()
            .next()
            .unwrap_or("");
        let header = names
            .get(field)
            .map(|s| s.to_string())
            .unwrap_or_else(|| field.to_uppercase());
        out.push_str(&header);
        rest = rest[start + end + 2..].to_string();
    }
    out.push_str(&rest);
    out
}

fn to_gtmpl(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::from(i),
            (_, Some(u), _) => Value::from(u),
            (_, _, Some(f)) => Value::from(f),
            _ => Value::Nil,
        },
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::from(a.iter().map(to_gtmpl).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => Value::from(
            o.iter()
                .map(|(k, v)| (k.clone(), to_gtmpl(v)))
                .collect::<HashMap<String, Value>>(),
        ),
    }
}

fn from_gtmpl(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil | Value::NoValue => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => n
            .as_i64()
            .map(serde_json::Value::from)
            .or_else(|| n.as_u64().map(serde_json::Value::from))
            .or_else(|| n.as_f64().map(serde_json::Value::from))
            .unwrap_or(serde_json::Value::Null),
        Value::Array(a) => serde_json::Value::Array(a.iter().map(from_gtmpl).collect()),
        Value::Map(m) | Value::Object(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), from_gtmpl(v))).collect())
        }
        Value::Function(_) => serde_json::Value::Null,
    }
}

fn arg_str(args: &[Value], i: usize) -> Result<String, FuncError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(FuncError::AtLeastXArgs("function".into(), i + 1)),
    }
}

fn json_fn(args: &[Value]) -> Result<Value, FuncError> {
    let v = args
        .first()
        .map(from_gtmpl)
        .unwrap_or(serde_json::Value::Null);
    Ok(Value::from(serde_json::to_string(&v).unwrap_or_default()))
}

fn upper_fn(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(arg_str(args, 0)?.to_uppercase()))
}

fn lower_fn(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(arg_str(args, 0)?.to_lowercase()))
}

fn join_fn(args: &[Value]) -> Result<Value, FuncError> {
    let sep = arg_str(args, 1)?;
    let items: Vec<String> = match args.first() {
        Some(Value::Array(a)) => a.iter().map(|v| v.to_string()).collect(),
        Some(other) => vec![other.to_string()],
        None => Vec::new(),
    };
    Ok(Value::from(items.join(&sep)))
}

fn split_fn(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0)?;
    let sep = arg_str(args, 1)?;
    Ok(Value::from(
        s.split(sep.as_str()).map(Value::from).collect::<Vec<_>>(),
    ))
}

fn title_fn(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0)?;
    let mut c = s.chars();
    let titled = c
        .next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default();
    Ok(Value::from(titled))
}

fn truncate_fn(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0)?;
    let n: usize = arg_str(args, 1)?.parse().unwrap_or(usize::MAX);
    Ok(Value::from(s.chars().take(n).collect::<String>()))
}

fn add_docker_funcs(tmpl: &mut Template) {
    let funcs: [(&str, Func); 7] = [
        ("json", json_fn),
        ("upper", upper_fn),
        ("lower", lower_fn),
        ("join", join_fn),
        ("split", split_fn),
        ("title", title_fn),
        ("truncate", truncate_fn),
    ];
    for (name, f) in funcs {
        tmpl.add_func(name, f);
    }
}

/// `2 hours ago`, as docker's CREATED columns print a time (`N/A` without one).
pub fn ago(t: Option<SystemTime>, now: SystemTime) -> String {
    let Some(t) = t else {
        return "N/A".into();
    };
    let age = now.duration_since(t).unwrap_or(Duration::ZERO);
    format!("{} ago", human_duration(age))
}

/// Go's `time.Time.String()` in UTC: `2026-11-22 09:20:22 +0000 UTC`.
pub fn go_time(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return String::new();
    };
    let s = humantime::format_rfc3339_seconds(t).to_string();
    format!(
        "{} +0000 UTC",
        s.trim_end_matches('Z').replacen('T', " ", 1)
    )
}

/// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// docker's inspect of several objects: each one's document fetched by `fetch`, the
/// found ones printed as [`inspect`] prints them, then a line for each one that could
/// not be fetched; exit status 1 if any could not.
pub fn inspect_each<E: std::fmt::Display>(
    names: &[String],
    template: Option<&str>,
    mut fetch: impl FnMut(&str) -> Result<Vec<u8>, E>,
) -> anyhow::Result<u8> {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        match fetch(name) {
            Ok(doc) => docs.push(doc),
            Err(e) => errors.push(e),
        }
    }
    inspect(&docs, template)?;
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(u8::from(!errors.is_empty()))
}

/// Prints inspect documents (the daemon's JSON bytes) as docker does: a JSON array with
/// the daemon's key order, or the template per document.
pub fn inspect(docs: &[Vec<u8>], template: Option<&str>) -> anyhow::Result<()> {
    let out = &mut std::io::stdout().lock();
    match template.filter(|t| !t.is_empty()) {
        Some(t) => {
            let tmpl = Compiled::new(t)?;
            for d in docs {
                let v: serde_json::Value = serde_json::from_slice(d)?;
                writeln!(out, "{}", tmpl.render(&v)?)?;
            }
        }
        None => {
            let mut all = b"[".to_vec();
            for (i, d) in docs.iter().enumerate() {
                if i > 0 {
                    all.push(b',');
                }
                all.extend_from_slice(d);
            }
            all.push(b']');
            writeln!(out, "{}", reindent(&all)?)?;
        }
    }
    Ok(())
}

/// JSON re-printed with docker's four-space indent, keys in their order.
pub fn reindent(json: &[u8]) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    let mut de = serde_json::Deserializer::from_slice(json);
    serde_transcode::transcode(&mut de, &mut ser)?;
    Ok(String::from_utf8(out)?)
}

/// Prints `items` as `--format` asks: the command's default table (`default` template),
/// a `table` template, a plain template per item, or JSON lines.
pub fn emit(
    fmt: &Format,
    items: &[serde_json::Value],
    default: &str,
    headers: &HashMap<&str, &str>,
) -> anyhow::Result<()> {
    let out = &mut std::io::stdout().lock();
    match fmt {
        Format::Default => template_table(out, default, items, headers),
        Format::Table(t) => template_table(out, t, items, headers),
        Format::Template(t) => {
            if let Some(fields) = plain_fields(t).filter(|f| f.len() == 1) {
                for item in items {
                    writeln!(out, "{}", field_text(&item[fields[0]]))?;
                }
                return Ok(());
            }
            let tmpl = Compiled::new(t)?;
            for item in items {
                writeln!(out, "{}", tmpl.render(item)?)?;
            }
            Ok(())
        }
        Format::Json => {
            for item in items {
                writeln!(out, "{}", serde_json::to_string(item)?)?;
            }
            Ok(())
        }
    }
}

/// A table whose columns and headers come from a template.
fn template_table(
    out: &mut impl Write,
    template: &str,
    items: &[serde_json::Value],
    headers: &HashMap<&str, &str>,
) -> anyhow::Result<()> {
    let header = table_header(template, headers);
    let header: Vec<&str> = header.split('\t').collect();
    let rows = match plain_fields(template) {
        // Only `{{.Field}}` columns (every command's default table): looked up directly,
        // without the template engine (which costs ~10 us a row).
        Some(fields) => items
            .iter()
            .map(|i| fields.iter().map(|f| field_text(&i[*f])).collect())
            .collect(),
        None => {
            let tmpl = Compiled::new(template)?;
            items
                .iter()
                .map(|i| Ok(tmpl.render(i)?.split('\t').map(String::from).collect()))
                .collect::<anyhow::Result<Vec<Vec<String>>>>()?
        }
    };
    table(out, &header, &rows)?;
    Ok(())
}

/// The field names of a template made only of tab-separated `{{.Field}}` columns.
fn plain_fields(template: &str) -> Option<Vec<&str>> {
    template
        .split('\t')
        .map(|col| {
            let inner = col.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
            let name = inner.strip_prefix('.')?;
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                .then_some(name)
                .filter(|n| !n.is_empty())
        })
        .collect()
}

/// A value as a plain template prints it.
fn field_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "<no value>".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_columns_skip_the_template_engine_and_print_the_same() {
        let t = "{{.ID}}\t{{ .Name }}\t{{.N}}";
        assert_eq!(plain_fields(t), Some(vec!["ID", "Name", "N"]));
        assert_eq!(plain_fields("{{.ID}} x"), None);
        assert_eq!(plain_fields("{{json .ID}}"), None);
        let item = serde_json::json!({"ID": "abc", "Name": "n", "N": 3});
        let via_engine = render(t, &item).unwrap();
        let direct: Vec<String> = plain_fields(t)
            .unwrap()
            .iter()
            .map(|f| field_text(&item[*f]))
            .collect();
        assert_eq!(via_engine, direct.join("\t"));
    }

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1200), "1.2kB");
        assert_eq!(human_size(4_855_922), "4.86MB");
        assert_eq!(human_size(12_345_678), "12.3MB");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(human_size(1_000_000_000), "1GB");
    }

    #[test]
    fn durations_as_docker_words_them() {
        let s = Duration::from_secs;
        assert_eq!(human_duration(s(0)), "Less than a second");
        assert_eq!(human_duration(s(45)), "45 seconds");
        assert_eq!(human_duration(s(90)), "About a minute");
        assert_eq!(human_duration(s(600)), "10 minutes");
        assert_eq!(human_duration(s(3700)), "About an hour");
        assert_eq!(human_duration(s(5 * 3600)), "5 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
        assert_eq!(human_duration(s(20 * 86400)), "2 weeks");
        assert_eq!(human_duration(s(100 * 86400)), "3 months");
        assert_eq!(human_duration(s(800 * 86400)), "2 years");
    }

    #[test]
    fn reindent_keeps_key_order() {
        assert_eq!(
            reindent(br#"[{"b":1,"a":[],"c":{"z":null}}]"#).unwrap(),
            "[\n    {\n        \"b\": 1,\n        \"a\": [],\n        \"c\": {\n            \"z\": null\n        }\n    }\n]"
        );
    }

    #[test]
    fn tables_are_aligned() {
        let mut out = Vec::new();
        let rows = vec![
            vec!["busybox".to_string(), "1.35".into()],
            vec!["a".into(), "latest".into()],
        ];
        table(&mut out, &["REPOSITORY", "TAG"], &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "REPOSITORY   TAG\nbusybox      1.35\na            latest\n"
        );
    }

    #[test]
    fn templates_with_docker_functions() {
        let item =
            serde_json::json!({"Repository": "busybox", "Tag": "1.35", "Labels": {"a": "b"}});
        assert_eq!(
            render("{{.Repository}}:{{.Tag}}", &item).unwrap(),
            "busybox:1.35"
        );
        assert_eq!(render("{{upper .Repository}}", &item).unwrap(), "BUSYBOX");
        assert_eq!(render("{{json .Labels}}", &item).unwrap(), r#"{"a":"b"}"#);
        assert_eq!(
            render(r"{{.Repository}}\t{{.Tag}}", &item).unwrap(),
            "busybox\t1.35"
        );
        let names = HashMap::from([("Repository", "REPOSITORY")]);
        assert_eq!(
            table_header(r"{{.Repository}}\t{{.Tag}}", &names),
            "REPOSITORY\tTAG"
        );
        assert!(render("{{.Repository", &item).is_err());
    }
}
