//! A strict reader of the Prometheus text exposition format (version 0.0.4), enough to check what
//! `/metrics` serves: `# HELP` / `# TYPE` lines, samples with escaped label values, and the histogram rules
//! (cumulative buckets ending in `le="+Inf"`, equal to `_count`). Any line it cannot read fails the test.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Default)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    /// Metric family name → `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    pub types: HashMap<String, String>,
}

impl Exposition {
    /// The sum of the samples named `name` whose labels include every pair of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .map(|s| s.value)
            .sum()
    }

    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_value(raw: &str) -> Result<f64, String> {
    match raw {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => raw.parse::<f64>().map_err(|e| format!("bad value {raw:?}: {e}")),
    }
}

/// `{a="1",b="x\"y"}` → the labels and the rest of the line.
fn parse_labels(input: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = input.strip_prefix('{').ok_or("labels must start with {")?;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = rest[..eq].trim();
        if !valid_name(name) || name.contains(':') {
            return Err(format!("bad label name {name:?}"));
        }
        let mut chars = rest[eq + 1..].char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(format!("label {name} value is not quoted"));
        }
        let mut value = String::new();
        let mut end = None;
        let mut escaped = false;
        for (i, c) in chars {
            if escaped {
                value.push(match c {
                    'n' => '\n',
                    '\\' => '\\',
                    '"' => '"',
                    other => return Err(format!("bad escape \\{other}")),
                });
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = Some(eq + 1 + i + 1);
                break;
            } else {
                value.push(c);
            }
        }
        let end = end.ok_or(format!("label {name} value is not closed"))?;
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} given twice"));
        }
        rest = rest[end..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err(format!("expected , or }} after label {name}"));
        }
    }
}

pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut exposition = Exposition::default();
    for (number, line) in text.lines().enumerate() {
        let context = |e: String| format!("line {}: {e}: {line:?}", number + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            match words.next() {
                Some("TYPE") => {
                    let name = words.next().ok_or_else(|| context("TYPE without a name".into()))?;
                    let kind = words.next().ok_or_else(|| context("TYPE without a type".into()))?;
                    if !valid_name(name) || !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(context("bad TYPE".into()));
                    }
                    if exposition.types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(context("TYPE given twice".into()));
                    }
                }
                Some("HELP") => {
                    let name = words.next().ok_or_else(|| context("HELP without a name".into()))?;
                    if !valid_name(name) {
                        return Err(context("bad HELP name".into()));
                    }
                }
                _ => {}
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| context("a sample needs a value".into()))?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(context(format!("bad metric name {name:?}")));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(context)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let mut fields = rest.split_whitespace();
        let value = parse_value(fields.next().ok_or_else(|| context("no value".into()))?).map_err(context)?;
        if let Some(timestamp) = fields.next() {
            timestamp.parse::<i64>().map_err(|e| context(format!("bad timestamp: {e}")))?;
        }
        if fields.next().is_some() {
            return Err(context("trailing text".into()));
        }
        exposition.samples.push(Sample { name: name.to_owned(), labels, value });
    }
    check_histograms(&exposition)?;
    Ok(exposition)
}

/// A series' labels but `le`, sorted.
type LabelSet = Vec<(String, String)>;

/// Each histogram series: buckets cumulative, the last `+Inf`, equal to `_count`.
fn check_histograms(exposition: &Exposition) -> Result<(), String> {
    for (family, kind) in &exposition.types {
        if kind != "histogram" {
            continue;
        }
        let mut series: BTreeMap<LabelSet, Vec<(f64, f64)>> = BTreeMap::new();
        for sample in exposition.samples.iter().filter(|s| s.name == format!("{family}_bucket")) {
            let le = sample.labels.get("le").ok_or(format!("{family}_bucket without le"))?;
            let mut key: Vec<(String, String)> = sample.labels.clone().into_iter().filter(|(k, _)| k != "le").collect();
            key.sort();
            series.entry(key).or_default().push((parse_value(le)?, sample.value));
        }
        for (key, buckets) in series {
            let mut previous = 0.0;
            for (_, count) in &buckets {
                if *count < previous {
                    return Err(format!("{family}{key:?}: buckets are not cumulative"));
                }
                previous = *count;
            }
            let (last_le, last) = *buckets.last().ok_or(format!("{family}: no bucket"))?;
            if last_le != f64::INFINITY {
                return Err(format!("{family}{key:?}: the last bucket is not +Inf"));
            }
            let labels: Vec<(&str, &str)> = key.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let count = exposition
                .samples
                .iter()
                .find(|s| {
                    s.name == format!("{family}_count")
                        && s.labels.len() == labels.len()
                        && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
                })
                .ok_or(format!("{family}{key:?}: no _count"))?;
            if count.value != last {
                return Err(format!("{family}{key:?}: _count {} differs from the +Inf bucket {last}", count.value));
            }
        }
    }
    Ok(())
}

#[test]
fn the_reader_refuses_what_prometheus_would_refuse() {
    assert!(parse("ok_total 1\n").is_ok());
    assert!(parse("bad-name 1\n").is_err());
    assert!(parse("x{a=\"1\" 1\n").is_err());
    assert!(parse("x{a=1} 1\n").is_err());
    assert!(parse("x one\n").is_err());
    let broken = "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 0\n";
    assert!(parse(broken).is_err(), "buckets must be cumulative");
    let good = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 3\n";
    assert_eq!(parse(good).unwrap().sum("h_count", &[]), 2.0);
}
