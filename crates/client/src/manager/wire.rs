//! [`SessionSnapshot`] and [`SessionEvent`] in the protocol's JSON codec: what browser
//! tabs post to each other. The text is the one their `serde` derives write (checked
//! below), so either side may use either.

use std::sync::Arc;

use trustyconvert_protocol::json::{FromJson, Json, JsonError, Object, ObjectWriter, ToJson};

use super::{SessionEvent, SessionFields, SessionSnapshot};

impl ToJson for SessionSnapshot {
    fn write_json(&self, out: &mut String) {
        ObjectWriter::new(out)
            .member("id", &self.id)
            .member("csrf_token", &self.csrf_token)
            .member("expires_at", &self.expires_at)
            .member("expires_at_millis", &self.expires_at_millis)
            .member("obtained_at_millis", &self.obtained_at_millis)
            .end();
    }
}

impl FromJson for SessionSnapshot {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let mut fields = value.into_object()?;
        let text = |fields: &mut Object, name| fields.field::<String>(name).map(Arc::from);
        Ok(Self::new(SessionFields {
            id: text(&mut fields, "id")?,
            csrf_token: text(&mut fields, "csrf_token")?,
            expires_at: text(&mut fields, "expires_at")?,
            expires_at_millis: fields.field("expires_at_millis")?,
            obtained_at_millis: fields.field("obtained_at_millis")?,
        }))
    }
}

/// Externally tagged, as the derive writes enums: `"Closed"`, `{"Rotated": {…}}`.
impl ToJson for SessionEvent {
    fn write_json(&self, out: &mut String) {
        match self {
            Self::Initialized(session) => {
                ObjectWriter::new(out).member("Initialized", session).end()
            }
            Self::Rotated(session) => ObjectWriter::new(out).member("Rotated", session).end(),
            Self::Closed => "Closed".write_json(out),
            Self::CsrfRejected { token } => ObjectWriter::new(out)
                .member("CsrfRejected", &RejectedToken(token))
                .end(),
        }
    }
}

/// The body of `CsrfRejected`: `{"token": …}`.
struct RejectedToken<'a>(&'a str);

impl ToJson for RejectedToken<'_> {
    fn write_json(&self, out: &mut String) {
        ObjectWriter::new(out).member("token", self.0).end();
    }
}

impl FromJson for SessionEvent {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        if value.as_str() == Some("Closed") {
            return Ok(Self::Closed);
        }
        let mut tagged = value.into_object()?;
        let event = if tagged.get("Initialized").is_some() {
            Self::Initialized(tagged.field("Initialized")?)
        } else if tagged.get("Rotated").is_some() {
            Self::Rotated(tagged.field("Rotated")?)
        } else if tagged.get("CsrfRejected").is_some() {
            let mut rejected = tagged.take("CsrfRejected").into_object()?;
            Self::CsrfRejected {
                token: rejected.field("token")?,
            }
        } else if tagged.get("Closed") == Some(&Json::Null) {
            tagged.take("Closed");
            Self::Closed
        } else {
            return Err(JsonError::expected("a session event"));
        };
        // Exactly one tag, as the derive requires.
        match tagged.is_empty() {
            true => Ok(event),
            false => Err(JsonError::expected("one session event")),
        }
    }
}

#[cfg(test)]
mod tests {
    use trustyconvert_protocol::json::from_slice;

    use super::*;

    fn snapshot() -> SessionSnapshot {
        SessionSnapshot::new(SessionFields {
            id: "abc".into(),
            csrf_token: "token \"1\"".into(),
            expires_at: "2026-11-29T01:00:00Z".into(),
            expires_at_millis: 2_000,
            obtained_at_millis: -1,
        })
    }

    #[test]
    fn every_session_event_is_written_and_read_as_its_derive_does() {
        let events = [
            SessionEvent::Initialized(snapshot()),
            SessionEvent::Rotated(snapshot()),
            SessionEvent::Closed,
            SessionEvent::CsrfRejected {
                token: "old\ntoken".into(),
            },
        ];
        for event in events {
            let ours = event.to_json();
            let derived = serde_json::to_string(&event).unwrap();
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&ours).unwrap(),
                serde_json::from_str::<serde_json::Value>(&derived).unwrap(),
            );
            assert_eq!(
                from_slice::<SessionEvent>(derived.as_bytes()).unwrap(),
                event
            );
            assert_eq!(serde_json::from_str::<SessionEvent>(&ours).unwrap(), event);
        }
        let closed = br#"{"Closed":null}"#;
        assert_eq!(
            from_slice::<SessionEvent>(closed).unwrap(),
            SessionEvent::Closed
        );
        assert_eq!(
            serde_json::from_slice::<SessionEvent>(closed).unwrap(),
            SessionEvent::Closed
        );
    }

    #[test]
    fn a_message_that_is_no_session_event_is_refused() {
        for text in [
            r#""Opened""#,
            r#"{}"#,
            r#"{"Closed":1}"#,
            r#"{"Rotated":{"id":"abc"}}"#,
            r#"{"CsrfRejected":{"token":"a"},"Rotated":{}}"#,
        ] {
            assert!(
                from_slice::<SessionEvent>(text.as_bytes()).is_err(),
                "{text}"
            );
            assert!(
                serde_json::from_str::<SessionEvent>(text).is_err(),
                "{text}"
            );
        }
    }
}
