//! Server-Sent Events as a client reads them: bytes in, whole events out
//! (the parts of the format `/v1/changes/stream` uses: `event`, `id`,
//! `data`, comments). Shared with the tests, which read the same streams.

/// One event, or one comment line (a heartbeat).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The event's type (`message` when the server named none); empty for a comment.
    pub event: String,
    /// The event's id, if it had one.
    pub id: Option<String>,
    /// The event's data lines, joined by newlines; a comment's text.
    pub data: String,
    /// A comment line rather than an event.
    pub comment: bool,
}

/// Splits a byte stream into events; feed it chunks as they arrive.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: SseEvent,
    data: Vec<String>,
    started: bool,
}

impl SseParser {
    /// The events completed by `chunk`, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            if byte != b'\n' {
                self.line.push(byte);
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if let Some(event) = self.line_done(&line) {
                events.push(event);
            }
        }
        events
    }

    /// Takes one line; an empty one ends the event under way.
    fn line_done(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            if !self.started {
                return None;
            }
            self.started = false;
            let mut event = std::mem::take(&mut self.event);
            event.data = std::mem::take(&mut self.data).join("\n");
            if event.event.is_empty() {
                event.event = "message".to_owned();
            }
            return Some(event);
        }
        if let Some(text) = line.strip_prefix(':') {
            return Some(SseEvent {
                data: text.trim_start().to_owned(),
                comment: true,
                ..SseEvent::default()
            });
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        self.started = true;
        match field {
            "event" => self.event.event = value.to_owned(),
            "id" => self.event.id = Some(value.to_owned()),
            "data" => self.data.push(value.to_owned()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_come_out_whole_and_comments_alone() {
        let mut parser = SseParser::default();
        let mut events = parser.push(b"event: change\r\nid: 0-4");
        assert!(events.is_empty());
        events.extend(parser.push(b"2\ndata: {\"a\":\ndata: 1}\n\n:\n\nretry: 2000\ndata: x\n\n"));
        assert_eq!(
            events,
            vec![
                SseEvent {
                    event: "change".into(),
                    id: Some("0-42".into()),
                    data: "{\"a\":\n1}".into(),
                    comment: false,
                },
                SseEvent {
                    comment: true,
                    ..SseEvent::default()
                },
                SseEvent {
                    event: "message".into(),
                    data: "x".into(),
                    ..SseEvent::default()
                },
            ]
        );
    }
}
