//! The load test's report: a table for the terminal, every figure as JSON,
//! and a self-contained HTML page with charts (SVG drawn by plotters).

use plotters::prelude::*;
use serde::Serialize;

use crate::profile::Profile;
use crate::stats::{
    KindSummary, Percentiles, Recorder, SecondSummary, StageSummary, GROUPS, TARGETS_MS,
};
use crate::student::Target;

/// Every figure of a run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The profile that ran.
    pub profile: Profile,
    /// Where writes went.
    pub write_target: String,
    /// Where reads went.
    pub read_target: String,
    /// How long the run took, in seconds.
    pub seconds: f64,
    /// Per kind of request, and `all`.
    pub requests: Vec<KindSummary>,
    /// Command acknowledged → visible in the query API (a read with the
    /// command's position answered).
    pub projection_lag: Percentiles,
    /// Arrivals the client did not start (too many requests open).
    pub client_dropped: u64,
    /// The most resident memory the services reported (MiB), if they did.
    pub server_resident_max_mib: Option<f64>,
    /// Per stage of the profile.
    pub stages: Vec<StageSummary>,
    /// Per second.
    pub timeline: Vec<SecondSummary>,
}

impl Report {
    /// The report of what `recorder` measured over `seconds`.
    pub fn new(profile: &Profile, target: &Target, seconds: f64, recorder: &Recorder) -> Self {
        Self {
            profile: profile.clone(),
            write_target: target.write.clone(),
            read_target: target.read.clone(),
            seconds,
            requests: recorder.kinds(seconds, &GROUPS),
            projection_lag: recorder.lag_summary(),
            client_dropped: recorder.client_dropped,
            server_resident_max_mib: recorder.resident_max(),
            stages: recorder.stages(profile),
            timeline: recorder.timeline(),
        }
    }

    /// The figures per kind of request as a Markdown table, with the lag.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| request | requests | errors | statuses | req/s | p50 ms | p95 ms | p99 ms | max ms |\n\
             |---|---:|---:|---|---:|---:|---:|---:|---:|\n",
        );
        for k in &self.requests {
            let statuses: Vec<String> =
                k.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
            let l = &k.latency;
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                k.name,
                k.requests,
                k.errors,
                statuses.join(" "),
                k.throughput,
                l.p50_ms,
                l.p95_ms,
                l.p99_ms,
                l.max_ms
            ));
        }
        out.push_str(&self.stage_table());
        let lag = &self.projection_lag;
        out.push_str(&format!(
            "\nprojection lag (acknowledged → visible, {} writes): p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n",
            lag.count, lag.p50_ms, lag.p95_ms, lag.p99_ms, lag.max_ms
        ));
        if let Some(mib) = self.server_resident_max_mib {
            out.push_str(&format!(
                "server memory (resident, most seen): {mib:.0} MiB\n"
            ));
        }
        if self.client_dropped > 0 {
            out.push_str(&format!(
                "arrivals dropped by the client (too many open requests): {}\n",
                self.client_dropped
            ));
        }
        out
    }

    /// The figures per stage: whether each held the targets, and what a
    /// request cost the services and the load tester in CPU time.
    fn stage_table(&self) -> String {
        let (read_p99, write_p99, lag_p99) = TARGETS_MS;
        let mut out = String::from(
            "\n| stage | target/s | answered/s | errors | reads p99 ms | writes p99 ms | lag p99 ms | within targets | services CPU ms/req | of it hashing | tester CPU ms/req |\n\
             |---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n"
        );
        let ms = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.3}"));
        for s in &self.stages {
            out.push_str(&format!(
                "| {} | {:.0} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} |\n",
                s.name,
                s.target_rate,
                s.throughput,
                s.errors,
                s.reads.p99_ms,
                s.writes.p99_ms,
                s.lag.p99_ms,
                if s.within_targets { "yes" } else { "no" },
                ms(s.services_cpu_ms_per_request),
                ms(s.hashing_cpu_ms_per_request),
                ms(s.tester_cpu_ms_per_request),
            ));
        }
        out.push_str(&format!(
            "(targets: reads p99 < {read_p99} ms, writes p99 < {write_p99} ms, lag p99 < {lag_p99} ms, no errors)\n"
        ));
        out
    }

    /// A self-contained HTML page: the table and three charts over time.
    pub fn html(&self) -> anyhow::Result<String> {
        let seconds: Vec<f64> = self.timeline.iter().map(|s| s.second as f64).collect();
        let series = |f: &dyn Fn(&SecondSummary) -> f64| -> Vec<(f64, f64)> {
            seconds
                .iter()
                .copied()
                .zip(self.timeline.iter().map(f))
                .collect()
        };
        let throughput = chart(
            "Throughput",
            "requests/s",
            &[
                ("target arrivals/s", series(&|s| s.target_rate), BLUE),
                ("answered/s", series(&|s| s.throughput as f64), GREEN),
                ("errors/s", series(&|s| s.errors as f64), RED),
            ],
        )?;
        let latency = chart(
            "Latency",
            "ms",
            &[
                ("p50", series(&|s| s.latency.p50_ms), GREEN),
                ("p95", series(&|s| s.latency.p95_ms), BLUE),
                ("p99", series(&|s| s.latency.p99_ms), RED),
            ],
        )?;
        let lag = chart(
            "Projection lag",
            "ms",
            &[
                ("p50", series(&|s| s.lag.p50_ms), GREEN),
                ("p99", series(&|s| s.lag.p99_ms), RED),
            ],
        )?;
        let memory = chart(
            "Server memory (resident)",
            "MiB",
            &[(
                "resident",
                self.timeline
                    .iter()
                    .filter_map(|s| s.server_resident_mib.map(|m| (s.second as f64, m)))
                    .collect(),
                BLUE,
            )],
        )?;
        let mut rows = String::new();
        for k in &self.requests {
            let l = &k.latency;
            let statuses: Vec<String> =
                k.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>\n",
                escape(&k.name), k.requests, k.errors, escape(&statuses.join(" ")), k.throughput, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
            ));
        }
        let lag_line = {
            let l = &self.projection_lag;
            format!(
                "Projection lag over {} writes: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms.",
                l.count, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
            )
        };
        Ok(format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Anote load test: {name}</title>\n\
             <style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse}}\
             td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}</style></head><body>\n\
             <h1>Anote load test: {name}</h1>\n<p>Writes to {write}, reads from {read}; {students} students, {reads}% reads, {secs:.0} s.</p>\n\
             <table><tr><th>request</th><th>requests</th><th>errors</th><th>statuses</th><th>req/s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>\n{rows}</table>\n\
             <p>{lag_line}</p>\n{throughput}\n{latency}\n{lag}\n{memory}\n</body></html>\n",
            name = escape(&self.profile.name),
            write = escape(&self.write_target),
            read = escape(&self.read_target),
            students = self.profile.students,
            reads = self.profile.read_percent,
            secs = self.seconds,
        ))
    }
}

/// A named series of (second, value) points and its colour.
type Line<'a> = (&'a str, Vec<(f64, f64)>, RGBColor);

/// A line chart over the run's seconds, as an SVG element.
fn chart(title: &str, unit: &str, lines: &[Line<'_>]) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let x_end = lines
            .iter()
            .flat_map(|(_, points, _)| points.iter().map(|p| p.0))
            .fold(1.0, f64::max);
        let y_end = lines
            .iter()
            .flat_map(|(_, points, _)| points.iter().map(|p| p.1))
            .fold(1.0, f64::max)
            * 1.1;
        let root = SVGBackend::with_string(&mut svg, (960, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_end, 0.0..y_end)
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc(unit)
            .draw()
            .map_err(draw_error)?;
        for (name, points, color) in lines {
            let color = *color;
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(draw_error)?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

fn draw_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {e}")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
