//! Logging: human-readable text by default, JSON lines in production.
//!
//! Each line carries the fields of the spans it was logged in, such as the
//! request's `request_id`, `method` and `route`, or a projector batch's
//! positions: in text as the spans' prefix, in JSON as top-level keys beside
//! the event's own, so that a failure is found by its request id like the
//! request's access line.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. Call once, at start-up.
pub fn init(config: &LogConfig) {
    if let Err(err) = tracing::subscriber::set_global_default(subscriber(config, std::io::stderr)) {
        tracing::debug!(%err, "a log subscriber was already installed");
    }
}

/// The subscriber `config` asks for, writing its lines to `writer`.
fn subscriber<W>(config: &LogConfig, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match config.log_format {
        LogFormat::Json => Box::new(
            builder
                .fmt_fields(JsonFields::new())
                .event_format(FlatJson)
                .finish(),
        ),
        LogFormat::Text => Box::new(builder.finish()),
    }
}

/// One JSON object per line: `timestamp`, `level`, `target`, `span` (the
/// innermost span's name), the fields of the event's spans from the
/// outermost in, and the event's own fields (`message` among them). An inner
/// span's field replaces an outer one's of the same name, and the event's
/// replaces both.
struct FlatJson;

impl<S> FormatEvent<S, JsonFields> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        for span in ctx.event_scope().into_iter().flat_map(|s| s.from_root()) {
            line.insert("span".to_owned(), span.name().into());
            let extensions = span.extensions();
            let fields = extensions
                .get::<FormattedFields<JsonFields>>()
                .and_then(|fields| serde_json::from_str::<Map<String, Value>>(fields).ok());
            line.extend(fields.into_iter().flatten());
        }
        event.record(&mut Fields(&mut line));
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let meta = event.metadata();
        line.insert("timestamp".to_owned(), timestamp.into());
        line.insert("level".to_owned(), meta.level().as_str().into());
        line.insert("target".to_owned(), meta.target().into());
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Collects an event's fields into a JSON object.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), value.to_string().into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;

    use anote_command_api::error::CommandError;
    use anote_http::HttpSettings;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;

    /// Log lines written to memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn text(&self) -> String {
            let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            bytes.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Logs of `format` kept by `filter`, into `captured`.
    fn capture(
        format: LogFormat,
        filter: &str,
        captured: &Captured,
    ) -> Box<dyn Subscriber + Send + Sync> {
        let config = LogConfig {
            log_format: format,
            log: filter.to_owned(),
        };
        let captured = captured.clone();
        subscriber(&config, move || captured.clone())
    }

    /// `text` without its terminal colour codes.
    fn without_colours(text: &str) -> String {
        let mut plain = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('\u{1b}') {
            plain.push_str(&rest[..start]);
            rest = &rest[start..];
            rest = rest.find('m').map_or("", |end| &rest[end + 1..]);
        }
        plain.push_str(rest);
        plain
    }

    /// An API whose one route fails inside the service.
    fn failing_api() -> Router {
        let routes = Router::new().route(
            "/v1/notes/{id}",
            get(|| async { Err::<(), _>(CommandError::Internal("the disk is full".to_owned())) }),
        );
        let http = HttpSettings {
            cors_origins: Vec::new(),
            request_timeout: Duration::from_secs(10),
            body_limit: 1024,
            max_in_flight: 4,
            body_timeout: Duration::from_secs(10),
        };
        anote_http::finish(routes, &http)
    }

    /// Sends a request that fails; returns the reply's request id.
    async fn fail_once() -> String {
        let request = Request::get("/v1/notes/7")
            .body(Body::empty())
            .expect("request");
        let response = failing_api().oneshot(request).await.expect("answers");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        response.headers()[anote_http::middleware::REQUEST_ID_HEADER]
            .to_str()
            .expect("text")
            .to_owned()
    }

    #[tokio::test]
    async fn a_failure_is_logged_once_as_json_with_its_request_id() {
        let captured = Captured::default();
        let json = capture(LogFormat::Json, "info", &captured);
        let _installed = tracing::subscriber::set_default(json);
        let request_id = fail_once().await;
        let lines: Vec<Value> = captured
            .text()
            .lines()
            .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
            .collect();
        assert_eq!(lines.len(), 2, "the failure and the access line: {lines:?}");
        let (failure, access) = (&lines[0], &lines[1]);
        assert_eq!(failure["level"], "ERROR");
        assert_eq!(failure["message"], "request failed");
        assert_eq!(failure["error"], "the disk is full");
        assert_eq!(access["target"], "anote::access");
        assert_eq!(access["status"], 500);
        for line in [failure, access] {
            assert_eq!(line["request_id"], request_id.as_str(), "{line}");
            assert_eq!(line["method"], "GET");
            assert_eq!(line["route"], "/v1/notes/{id}");
            assert_eq!(line["span"], "request");
        }
    }

    #[tokio::test]
    async fn with_errors_only_a_failure_in_text_still_shows_its_request() {
        let captured = Captured::default();
        let text = capture(LogFormat::Text, "error", &captured);
        let _installed = tracing::subscriber::set_default(text);
        let request_id = fail_once().await;
        let text = without_colours(&captured.text());
        assert_eq!(text.lines().count(), 1, "the failure, once: {text}");
        assert!(text.contains("request failed"), "{text}");
        let span = format!("request{{request_id={request_id} method=GET route=/v1/notes/{{id}}}}");
        assert!(text.contains(&span), "{text} lacks {span}");
    }
}
