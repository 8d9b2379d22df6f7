//! What ops/ gives Prometheus and Grafana users matches what the daemon exports: every
//! metric a dashboard panel or an alert rule uses is in a live `/metrics` scrape, except
//! those listed in [`NOT_YET_EXPORTED`], which must not be (so the list shrinks as they
//! land). Also the shape operators rely on: every alert has a severity, a summary, a
//! description and a runbook; every panel queries the dashboard's data source.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use tests::TestDaemon;

/// Metrics the dashboard and the alert rules use that the daemon does not export yet, by
/// family name (a histogram's `_bucket`, a counter's `_total` follow from it). Each is
/// specified in ops/README.md ("Not exported yet").
const NOT_YET_EXPORTED: &[&str] = &[];

fn ops(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ops")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn every_metric_ops_uses_is_exported() {
    let d = TestDaemon::start().await.unwrap();
    let mut used: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for expr in dashboard_expressions(&ops("grafana/edld.json")) {
        for name in metric_names(&expr) {
            used.entry(name).or_default().insert("grafana/edld.json");
        }
    }
    for expr in rule_expressions(&ops("prometheus/edld-alerts.yml")) {
        for name in metric_names(&expr) {
            used.entry(name)
                .or_default()
                .insert("prometheus/edld-alerts.yml");
        }
    }
    assert!(used.len() > 20, "too few metric names found: {used:?}");

    for listener in ["public", "admin"] {
        let mut client = match listener {
            "public" => d.client().await.unwrap(),
            _ => d.admin_client().await.unwrap(),
        };
        let reply = client.get("/metrics", None).await.unwrap();
        assert_eq!(reply.status, 200, "{listener}");
        let scrape = String::from_utf8(reply.body.to_vec()).unwrap();
        let exported = exported_names(&scrape);

        let missing: Vec<String> = used
            .iter()
            .filter(|(name, _)| !exported.contains(*name) && family_of(name).is_none())
            .map(|(name, files)| format!("{name} (used in {files:?})"))
            .collect();
        assert!(
            missing.is_empty(),
            "used by ops/ but not in the {listener} scrape: {missing:#?}\n{scrape}"
        );
        let landed: Vec<&&str> = NOT_YET_EXPORTED
            .iter()
            .filter(|family| {
                exported
                    .iter()
                    .any(|name| name == **family || family_of(name) == Some(family))
            })
            .collect();
        assert!(
            landed.is_empty(),
            "exported now, remove from NOT_YET_EXPORTED: {landed:?}"
        );
    }
    let unused: Vec<&&str> = NOT_YET_EXPORTED
        .iter()
        .filter(|family| {
            !used
                .keys()
                .any(|name| name == **family || family_of(name) == Some(family))
        })
        .collect();
    assert!(
        unused.is_empty(),
        "in NOT_YET_EXPORTED but used nowhere: {unused:?}"
    );
    d.stop().await.unwrap();
}

/// The NOT_YET_EXPORTED family a sample name belongs to, if any.
fn family_of(name: &str) -> Option<&'static &'static str> {
    NOT_YET_EXPORTED.iter().find(|family| {
        name == **family
            || ["_bucket", "_sum", "_count", "_total"]
                .iter()
                .any(|suffix| name.strip_suffix(suffix) == Some(**family))
    })
}

#[test]
fn every_alert_tells_operators_what_to_do() {
    let rules = ops("prometheus/edld-alerts.yml");
    let alerts = alert_blocks(&rules);
    assert!(alerts.len() >= 10, "{}", alerts.len());
    let mut names = BTreeSet::new();
    for (name, block) in &alerts {
        assert!(names.insert(name.clone()), "{name} defined twice");
        assert!(name.starts_with("Edld"), "{name}");
        for key in ["expr:", "severity:", "summary:", "description:", "runbook:"] {
            assert!(block.contains(key), "{name} has no {key}\n{block}");
        }
        let severity = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("severity:"))
            .unwrap()
            .trim();
        assert!(
            ["warning", "critical"].contains(&severity),
            "{name}: {severity}"
        );
    }
    // The alerts the issue asks for, by the subject each covers.
    for expected in [
        "EdldQueueWaitBeyondPromise",
        "EdldDrainBelowTarget",
        "EdldRefusalsSurging",
        "EdldAuditCommitSlow",
        "EdldStatusListExpiring",
        "EdldTrustListExpiring",
        "EdldSigningHeld",
        "EdldSigningKeyExpiring",
    ] {
        assert!(names.contains(expected), "no {expected}: {names:?}");
    }
    // Each alert has at least one unit test in the promtool test file.
    let tests = ops("prometheus/edld-alerts.test.yml");
    for name in &names {
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "{name} has no promtool test"
        );
    }
    // And its runbook line points to a section of the operators' README.
    let headings: BTreeSet<String> = ops("README.md")
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(str::to_lowercase)
        .collect();
    for (name, block) in &alerts {
        let anchor = block
            .split("ops/README.md#")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_alphanumeric()).next())
            .unwrap_or_else(|| panic!("{name}: no ops/README.md# link in its runbook"));
        assert!(
            headings.contains(anchor),
            "{name} points to #{anchor}, which ops/README.md lacks"
        );
    }
}

#[test]
fn every_panel_queries_the_chosen_data_source() {
    let dashboard: Value = serde_json::from_str(&ops("grafana/edld.json")).unwrap();
    let mut ids = BTreeSet::new();
    let mut queries = 0;
    for panel in panels(&dashboard) {
        let id = panel["id"].as_u64().unwrap();
        assert!(ids.insert(id), "panel id {id} twice");
        assert!(panel["title"].as_str().is_some_and(|t| !t.is_empty()));
        if panel["type"] == "row" {
            continue;
        }
        assert!(
            panel["description"].as_str().is_some_and(|t| !t.is_empty()),
            "{}",
            panel["title"]
        );
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", panel["title"]);
        let mut refs = BTreeSet::new();
        for target in targets {
            assert!(refs.insert(target["refId"].as_str().unwrap()));
            let expr = target["expr"].as_str().unwrap();
            assert!(
                expr.contains(r#"instance=~"$instance""#),
                "{}: {expr} ignores the instance variable",
                panel["title"]
            );
            queries += 1;
        }
    }
    assert!(queries > 30, "{queries}");
}

// ---- reading the files ----

fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in panels.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Every PromQL expression of the dashboard: its panels' targets and its query variables.
fn dashboard_expressions(json: &str) -> Vec<String> {
    let dashboard: Value = serde_json::from_str(json).unwrap();
    let mut out: Vec<String> = panels(&dashboard)
        .into_iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            out.push(query.to_owned());
        }
    }
    out
}

/// The `expr:` of every rule in a Prometheus rule file: inline, or a block scalar (`|`,
/// `>`) whose lines are indented deeper than the key. Enough YAML for rule files, which
/// is all this reads.
fn rule_expressions(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        i += 1;
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let rest = rest.trim();
        if rest.starts_with('|') || rest.starts_with('>') {
            let mut block = String::new();
            while i < lines.len() {
                let next = lines[i];
                let next_indent = next.len() - next.trim_start().len();
                if !next.trim().is_empty() && next_indent <= indent {
                    break;
                }
                block.push_str(next.trim());
                block.push('\n');
                i += 1;
            }
            out.push(block);
        } else {
            out.push(rest.trim_matches(|c| c == '"' || c == '\'').to_owned());
        }
    }
    out
}

/// Each `- alert: Name` with the lines of its rule: those indented deeper than its `-`.
fn alert_blocks(yaml: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut open: Option<usize> = None;
    for line in yaml.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            out.push((name.trim().to_owned(), String::new()));
            open = Some(indent);
        } else if open.is_some_and(|dash| !trimmed.is_empty() && indent <= dash) {
            open = None;
        }
        if open.is_some()
            && let Some((_, block)) = out.last_mut()
        {
            block.push_str(line);
            block.push('\n');
        }
    }
    out
}

/// The metric names in a PromQL expression: identifiers starting with `edld_`, outside
/// string literals. Label names never start with `edld_`, and recording rules would be
/// named `edld:…`, so this picks exactly the metrics.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut chars = expr.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                // Skip the string literal, honouring backslash escapes.
                let mut escaped = false;
                for (_, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == c {
                        break;
                    }
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' || d == ':' {
                        end = i + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &expr[start..end];
                if word.starts_with("edld_") {
                    names.insert(word.to_owned());
                }
            }
            _ => {}
        }
    }
    names
}

/// Every sample name a scrape can hold: the families declared by `# TYPE` (a counter's
/// samples end in `_total`, a histogram's in `_bucket`, `_sum` and `_count`) and the
/// names of the samples present. A family with no labelled child yet still declares its
/// type, so it counts as exported.
fn exported_names(scrape: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in scrape.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            match kind {
                "counter" => {
                    names.insert(format!("{name}_total"));
                }
                "histogram" => {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        names.insert(format!("{name}{suffix}"));
                    }
                }
                _ => {
                    names.insert(name.to_owned());
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

#[test]
fn metric_names_from_promql() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le, route) (rate(edld_a_seconds_bucket{route="edld_not_a_metric",instance=~"$instance"}[5m]))) / on (instance) group_left edld_b_total > 0 and time() - edld:recorded"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["edld_a_seconds_bucket", "edld_b_total"]
    );
}

#[test]
fn rule_expressions_inline_and_block() {
    let yaml = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 1m\n      - alert: B\n        expr: |\n          sum(edld_x)\n            > 1\n        labels:\n          severity: warning\n      - alert: C\n        expr: 'edld_y > 2'\n";
    assert_eq!(
        rule_expressions(yaml),
        ["up == 0", "sum(edld_x)\n> 1\n", "edld_y > 2"]
    );
}

#[test]
fn exported_names_from_exposition() {
    let scrape = "# HELP edld_a A.\n# TYPE edld_a counter\n# TYPE edld_h histogram\nedld_h_sum 0.0\n# TYPE edld_g gauge\nedld_g{lane=\"first\"} 1\n# EOF\n";
    assert_eq!(
        exported_names(scrape).into_iter().collect::<Vec<_>>(),
        [
            "edld_a_total",
            "edld_g",
            "edld_h_bucket",
            "edld_h_count",
            "edld_h_sum"
        ]
    );
}
