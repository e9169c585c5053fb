//! The latest value of every host series in the Prometheus text format, for `/metrics/hosts`,
//! so an existing Prometheus and Grafana can scrape what the agents collect.

use std::fmt::Write;

use super::Latest;

/// Escapes a label value: backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `steward_host_<name>{host="…",cluster="…",<labels>} <value> <at_ms>` for every series,
/// grouped by metric with one `# TYPE … gauge` line each.
pub fn render(series: &[(String, Option<String>, Latest)]) -> String {
    let mut rows: Vec<&(String, Option<String>, Latest)> = series.iter().collect();
    rows.sort_by(|a, b| (&a.2.key.name, &a.0).cmp(&(&b.2.key.name, &b.0)));
    let mut out = String::new();
    let mut last_name = "";
    for (host, cluster, l) in rows {
        if l.key.name != last_name {
            let _ = writeln!(out, "# TYPE steward_host_{} gauge", l.key.name);
            last_name = &l.key.name;
        }
        let _ = write!(out, "steward_host_{}{{host=\"{}\"", l.key.name, escape(host));
        if let Some(c) = cluster {
            let _ = write!(out, ",cluster=\"{}\"", escape(c));
        }
        for (k, v) in &l.key.labels {
            // Our own labels win over an agent's label of the same name.
            if k != "host" && k != "cluster" {
                let _ = write!(out, ",{k}=\"{}\"", escape(v));
            }
        }
        let _ = writeln!(out, "}} {} {}", l.value, l.at_ms);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::SeriesKey;

    #[test]
    fn series_render_as_prometheus_gauges_with_escaped_labels() {
        let disk = |mount: &str, v| Latest {
            key: SeriesKey {
                name: "disk_used_pct".into(),
                labels: [("mount".to_string(), mount.to_string())].into(),
            },
            value: v,
            at_ms: 1000,
        };
        let text = render(&[
            ("web-1".into(), Some("web".into()), disk("/", 42.5)),
            ("web-2".into(), None, disk("/we\"ird", 7.0)),
        ]);
        assert_eq!(
            text,
            "# TYPE steward_host_disk_used_pct gauge\n\
             steward_host_disk_used_pct{host=\"web-1\",cluster=\"web\",mount=\"/\"} 42.5 1000\n\
             steward_host_disk_used_pct{host=\"web-2\",mount=\"/we\\\"ird\"} 7 1000\n"
        );
    }
}
